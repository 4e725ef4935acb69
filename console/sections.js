// The console's navigation: Customers for every role; Approvals and Alerts only for the
// roles SPEC §4 lets see them (APPROVE, VIEW_ALERTS: MANAGER, ADMIN), the Dashboard for
// VIEW_ANALYTICS (MANAGER, ADMIN, FINANCE), Finance for VIEW_FINANCE (the same). Hiding a section only decides what to offer: the
// API decides what is allowed.
import { showAlerts } from "./alerts.js";
import { showApprovals } from "./approvals.js";
import { $ } from "./common.js";
import { showDashboard } from "./dashboard.js";
import { showFinance } from "./finance.js";

const MANAGING = new Set(["MANAGER", "ADMIN"]);
const ANALYSING = new Set(["MANAGER", "ADMIN", "FINANCE"]);
const FINANCE_READERS = new Set(["MANAGER", "ADMIN", "FINANCE"]); // VIEW_FINANCE

// `roles`: who is offered the section (null: every role).
const SECTIONS = {
  customers: { roles: null, show: () => {} },
  approvals: { roles: MANAGING, show: showApprovals },
  alerts: { roles: MANAGING, show: showAlerts },
  dashboard: { roles: ANALYSING, show: showDashboard },
  finance: { roles: FINANCE_READERS, show: showFinance },
};

const nav = $("sections");

function buttonOf(name) {
  return nav.querySelector(`button[data-section="${name}"]`);
}

/** Show `name`'s section (and load it), hide the others. */
export function openSection(name) {
  for (const other of Object.keys(SECTIONS)) {
    $(other).hidden = other !== name;
    buttonOf(other).setAttribute("aria-current", other === name ? "page" : "false");
  }
  SECTIONS[name].show();
}

/** The navigation for `role`, opened on Customers. */
export function showSections(role) {
  for (const [name, section] of Object.entries(SECTIONS)) {
    buttonOf(name).hidden = section.roles !== null && !section.roles.has(role);
  }
  nav.hidden = false;
  openSection("customers");
}

/** Signed out: no navigation and no staff section. */
export function hideSections() {
  nav.hidden = true;
  for (const name of Object.keys(SECTIONS)) {
    if (SECTIONS[name].roles !== null) $(name).hidden = true;
  }
}

for (const name of Object.keys(SECTIONS)) {
  buttonOf(name).addEventListener("click", () => openSection(name));
}
