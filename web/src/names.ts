// Titles of programs and names of organizations for ids the cabinet's answers carry.
import { api, unwrap } from "./api/client";

const programs = new Map<number, Promise<string>>();
const organizations = new Map<number, Promise<string>>();

export function programTitle(id: number): Promise<string> {
  if (!programs.has(id)) {
    programs.set(
      id,
      unwrap(api.GET("/api/v1/programs/{program_id}", { params: { path: { program_id: id } } }))
        .then((p) => p.title)
        .catch(() => `Программа №${id}`),
    );
  }
  return programs.get(id)!;
}

export function organizationName(id: number): Promise<string> {
  if (!organizations.has(id)) {
    organizations.set(
      id,
      unwrap(api.GET("/api/v1/organizations/{organization_id}", { params: { path: { organization_id: id } } }))
        .then((o) => o.name)
        .catch(() => `Организация №${id}`),
    );
  }
  return organizations.get(id)!;
}

/** Both names for each (program, organization) pair, keyed "program:organization". */
export async function namesOf(pairs: { program_id: number; organization_id: number }[]) {
  const out: Record<string, { program: string; organization: string }> = {};
  await Promise.all(
    pairs.map(async (p) => {
      out[`${p.program_id}:${p.organization_id}`] = {
        program: await programTitle(p.program_id),
        organization: await organizationName(p.organization_id),
      };
    }),
  );
  return out;
}
