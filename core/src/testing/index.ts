export { eventually } from './eventually.ts';
export { requirePrivileges, type PrivilegeNeeds } from './privileges.ts';
