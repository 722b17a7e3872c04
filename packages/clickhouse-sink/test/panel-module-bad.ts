/** A panel module whose export has the wrong shape (panel-provider.test.ts): loading it must fail clearly. */
export const panelProvider = { panels: 'not a list', variables: [], expandMacros: (sql: string) => sql };
