// The console's navigation: Customers for every role; Approvals, Alerts and the Dashboard
// only for the roles SPEC §4 lets see them (APPROVE, VIEW_ALERTS, VIEW_ANALYTICS: MANAGER,
// ADMIN). Hiding a section only decides what to offer: the API decides what is allowed.
import { showAlerts } from "./alerts.js";
import { showApprovals } from "./approvals.js";
import { $ } from "./common.js";
import { showDashboard } from "./dashboard.js";
import { STAFF_ROLES } from "./staff-api.js";

const SECTIONS = {
  customers: { staffOnly: false, show: () => {} },
  approvals: { staffOnly: true, show: showApprovals },
  alerts: { staffOnly: true, show: showAlerts },
  dashboard: { staffOnly: true, show: showDashboard },
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
    buttonOf(name).hidden = section.staffOnly && !STAFF_ROLES.has(role);
  }
  nav.hidden = false;
  openSection("customers");
}

/** Signed out: no navigation and no staff section. */
export function hideSections() {
  nav.hidden = true;
  for (const name of Object.keys(SECTIONS)) {
    if (SECTIONS[name].staffOnly) $(name).hidden = true;
  }
}

for (const name of Object.keys(SECTIONS)) {
  buttonOf(name).addEventListener("click", () => openSection(name));
}
