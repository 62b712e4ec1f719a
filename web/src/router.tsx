// A small history router: the portal's few routes need no library (and no bytes of one).
import { useEffect, useState, type AnchorHTMLAttributes, type MouseEvent } from "react";

const EVENT = "navigator:navigate";

export function navigate(to: string, replace = false): void {
  if (replace) history.replaceState(null, "", to);
  else history.pushState(null, "", to);
  window.dispatchEvent(new Event(EVENT));
  window.scrollTo(0, 0);
}

export function useLocation(): { path: string; query: URLSearchParams } {
  const read = () => ({ path: location.pathname, query: new URLSearchParams(location.search) });
  const [where, setWhere] = useState(read);
  useEffect(() => {
    const update = () =>
      setWhere((old) => (old.path + old.query === location.pathname + location.search.slice(1) ? old : read()));
    window.addEventListener("popstate", update);
    window.addEventListener(EVENT, update);
    // a child's effect may have navigated before this listener was added
    update();
    return () => {
      window.removeEventListener("popstate", update);
      window.removeEventListener(EVENT, update);
    };
  }, []);
  return where;
}

/** "/login?next=…" for the page the person is on. */
export function loginHref(): string {
  return `/login?next=${encodeURIComponent(location.pathname + location.search)}`;
}

export function Link(props: AnchorHTMLAttributes<HTMLAnchorElement> & { to: string }) {
  const { to, ...rest } = props;
  const click = (event: MouseEvent<HTMLAnchorElement>) => {
    if (event.ctrlKey || event.metaKey || event.shiftKey || event.button !== 0) return;
    event.preventDefault();
    navigate(to);
  };
  return <a href={to} onClick={click} {...rest} />;
}
