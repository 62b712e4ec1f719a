import { StrictMode, type JSX } from "react";
import { createRoot } from "react-dom/client";
import { Applications, Certificates, Contracts, History } from "./pages/Cabinet";
import { Catalog } from "./pages/Catalog";
import { ChildForm, Children } from "./pages/Children";
import { Login, Register } from "./pages/Auth";
import { ProgramPage } from "./pages/Program";
import { PasswordReset, VerifyEmail } from "./pages/Recovery";
import { MunicipalityFunding, MunicipalityHome, MunicipalityInvoices, MunicipalityReport } from "./pages/Municipality";
import {
  ProviderApplications, ProviderHome, ProviderInvoices, ProviderJournal, ProviderPrograms, ProviderRegister,
} from "./pages/Provider";
import { RegionBilling, RegionHome, RegionOrganizations, RegionPeriods, RegionPrograms, RegionReport } from "./pages/Region";
import { Link, navigate, useLocation } from "./router";
import { ConnectionNotice, logout, SessionProvider, useSession } from "./state";
import "./styles.css";

function Page() {
  const { path } = useLocation();
  let match: RegExpMatchArray | null;
  if (path === "/") return <Catalog />;
  if ((match = path.match(/^\/programs\/(\d+)$/))) return <ProgramPage id={Number(match[1])} />;
  if (path === "/login") return <Login />;
  if (path === "/register") return <Register />;
  if (path === "/verify-email") return <VerifyEmail />;
  if (path === "/password-reset") return <PasswordReset />;
  if (path === "/children") return <Children />;
  if (path === "/children/new") return <ChildForm id={null} />;
  if ((match = path.match(/^\/children\/(\d+)$/))) return <ChildForm id={Number(match[1])} />;
  if (path === "/certificates") return <Certificates />;
  if ((match = path.match(/^\/certificates\/([\w-]+)$/))) return <History number={match[1]} />;
  if (path === "/applications") return <Applications />;
  if (path === "/contracts") return <Contracts />;
  const consoles: Record<string, () => JSX.Element | null> = {
    "/provider/register": ProviderRegister,
    "/provider": ProviderHome,
    "/provider/applications": ProviderApplications,
    "/provider/programs": ProviderPrograms,
    "/provider/journal": ProviderJournal,
    "/provider/invoices": ProviderInvoices,
    "/region": RegionHome,
    "/region/organizations": RegionOrganizations,
    "/region/programs": RegionPrograms,
    "/region/billing": RegionBilling,
    "/region/periods": RegionPeriods,
    "/region/report": RegionReport,
    "/municipality": MunicipalityHome,
    "/municipality/funding": MunicipalityFunding,
    "/municipality/invoices": MunicipalityInvoices,
    "/municipality/report": MunicipalityReport,
  };
  const Console = consoles[path];
  if (Console) return <Console />;
  return (
    <section>
      <h1>Страница не найдена</h1>
      <p><Link to="/">Перейти в каталог</Link></p>
    </section>
  );
}

function Header() {
  const { user, ready } = useSession();
  const { path } = useLocation();
  const current = (to: string) => (path === to ? ("page" as const) : undefined);
  return (
    <header className="top">
      <Link to="/" className="brand">Навигатор</Link>
      <nav aria-label="Основное меню">
        <Link to="/" aria-current={current("/")}>Каталог</Link>
        {user && user.role === "parent" && (
          <>
            <Link to="/children" aria-current={current("/children")}>Дети</Link>
            <Link to="/certificates" aria-current={current("/certificates")}>Сертификаты</Link>
            <Link to="/applications" aria-current={current("/applications")}>Заявки</Link>
            <Link to="/contracts" aria-current={current("/contracts")}>Договоры</Link>
          </>
        )}
        {user?.role === "provider" && (
          <>
            <Link to="/provider" aria-current={current("/provider")}>Организация</Link>
            <Link to="/provider/applications" aria-current={current("/provider/applications")}>Заявки</Link>
            <Link to="/provider/programs" aria-current={current("/provider/programs")}>Программы</Link>
            <Link to="/provider/journal" aria-current={current("/provider/journal")}>Журнал</Link>
            <Link to="/provider/invoices" aria-current={current("/provider/invoices")}>Счета</Link>
          </>
        )}
        {user?.role === "regional_operator" && (
          <>
            <Link to="/region/organizations" aria-current={current("/region/organizations")}>Организации</Link>
            <Link to="/region/programs" aria-current={current("/region/programs")}>Программы</Link>
            <Link to="/region/billing" aria-current={current("/region/billing")}>Расчёт</Link>
            <Link to="/region/periods" aria-current={current("/region/periods")}>Периоды</Link>
            <Link to="/region/report" aria-current={current("/region/report")}>Отчёт</Link>
          </>
        )}
        {user?.role === "municipal_operator" && (
          <>
            <Link to="/municipality/funding" aria-current={current("/municipality/funding")}>Номиналы</Link>
            <Link to="/municipality/invoices" aria-current={current("/municipality/invoices")}>Счета</Link>
            <Link to="/municipality/report" aria-current={current("/municipality/report")}>Отчёт</Link>
          </>
        )}
        {user && (
          <button type="button" className="link" onClick={() => logout().then(() => navigate("/"))}>
            Выйти
          </button>
        )}
        {ready && !user && (
          <>
            <Link to="/login" aria-current={current("/login")}>Войти</Link>
            <Link to="/register" aria-current={current("/register")}>Регистрация</Link>
            <Link to="/provider/register" aria-current={current("/provider/register")}>Для организаций</Link>
          </>
        )}
      </nav>
    </header>
  );
}

function App() {
  const { ready } = useSession();
  return (
    <>
      <a href="#main" className="skip">К содержанию</a>
      <Header />
      <ConnectionNotice />
      <main id="main" tabIndex={-1}>{ready ? <Page /> : <p aria-busy="true">Загрузка…</p>}</main>
      <footer>Навигатор дополнительного образования детей · <a href="/api/v1/docs">API</a></footer>
    </>
  );
}

createRoot(document.getElementById("root")!).render(
  <StrictMode>
    <SessionProvider>
      <App />
    </SessionProvider>
  </StrictMode>,
);
