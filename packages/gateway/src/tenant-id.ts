/** Tenant ids are Azure AD tenant GUIDs, compared in lower case. */
const GUID = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;

export function isTenantId(value: string): boolean {
  return GUID.test(value);
}

/** Lower-cased GUID, or undefined when `value` is not one. */
export function normalizeTenantId(value: string): string | undefined {
  return GUID.test(value) ? value.toLowerCase() : undefined;
}
