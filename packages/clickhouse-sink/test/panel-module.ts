/** A panel provider module as the query worker loads it (panel-provider.test.ts): one audit panel, one not. */
import type { PanelProvider } from '../src/query-api/panels.ts';

export const panelProvider: PanelProvider = {
  panels: [
    {
      id: 'readers-per-user',
      board: 'compliance',
      title: 'Events per user',
      description: 'user ids: an audit read',
      chart: 'table',
      sql: 'SELECT user_id, count() AS events FROM audit_events GROUP BY user_id ORDER BY user_id',
      columns: [
        { name: 'user_id', type: 'string' },
        { name: 'events', type: 'number' },
      ],
      readsAuditRecords: true,
    },
    {
      id: 'constant',
      board: 'sre',
      title: 'A constant',
      description: 'no audit records',
      chart: 'stat',
      sql: 'SELECT 1 AS one',
      columns: [{ name: 'one', type: 'number' }],
      readsAuditRecords: false,
    },
  ],
  variables: [],
  expandMacros: (sql) => sql,
  moduleUrl: import.meta.url,
};
