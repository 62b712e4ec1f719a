// Vendors Swagger UI into dist/swagger from the pinned npm package (nothing from a CDN).
import { copyFileSync, mkdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const web = join(dirname(fileURLToPath(import.meta.url)), "..");
const from = join(web, "node_modules", "swagger-ui-dist");
const to = join(web, "dist", "swagger");
mkdirSync(to, { recursive: true });
for (const name of ["swagger-ui-bundle.js", "swagger-ui.css"]) {
  copyFileSync(join(from, name), join(to, name));
}
