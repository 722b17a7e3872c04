/**
 * `fhirwatch clients create|list|rotate|revoke|delete`: manage the gateway's OAuth clients in a data
 * directory (works while a gateway runs on it). A secret is printed once, when created.
 */
import { parseArgs } from 'node:util';
import { type ClientInfo, loadGatewayConfig, openClientRegistry } from '@fhirwatch/gateway';
import { UsageError } from '../command.ts';
import { numberFlag } from '../flags.ts';

export const description = 'Manage the gateway OAuth clients and secrets (create, list, rotate, revoke, delete)';

const USAGE = `Usage: fhirwatch clients <action> [--data-dir <dir> | --config <file>] ...

  create --tenant <guid> [--tenant <guid> ...] [--name <text>]   new client; prints its secret once (JSON)
  list [--json]                                                  clients, tenants and secret ids
  rotate --client <id> [--grace <seconds>]                       new secret; the old ones work until revoked,
                                                                 or until the grace period ends
  revoke --client <id> --secret <secret-id>                      revoke one secret
  delete --client <id>                                           delete a client

The registry lives in --data-dir (default: the config's dataDir, else .fhirwatch/gateway).
`;

const ACTIONS = ['create', 'list', 'rotate', 'revoke', 'delete'] as const;

function table(clients: ClientInfo[]): string {
  const lines = ['client_id                              tenants  active_secrets  name'];
  for (const client of clients) {
    const active = client.secrets.filter((s) => s.active).length;
    lines.push(
      `${client.clientId}  ${String(client.tenants.length).padStart(7)}  ${String(active).padStart(14)}  ${client.name}`,
    );
    for (const tenant of client.tenants) lines.push(`    tenant ${tenant}`);
    for (const secret of client.secrets) {
      const state =
        secret.revokedAt !== null
          ? `revoked ${secret.revokedAt}`
          : secret.active
            ? secret.expiresAt === null
              ? 'active'
              : `active until ${secret.expiresAt}`
            : `expired ${secret.expiresAt}`;
      lines.push(`    secret ${secret.secretId}  ${state}`);
    }
  }
  return `${lines.join('\n')}\n`;
}

export async function run(args: string[]): Promise<number> {
  const [action, ...rest] = args;
  if (action === undefined || action === '--help' || action === '-h') {
    process.stdout.write(USAGE);
    return action === undefined ? 2 : 0;
  }
  if (!(ACTIONS as readonly string[]).includes(action)) throw new UsageError(`unknown action '${action}'\n${USAGE}`);
  const { values } = parseArgs({
    args: rest,
    options: {
      'data-dir': { type: 'string' },
      config: { type: 'string' },
      tenant: { type: 'string', multiple: true },
      name: { type: 'string' },
      client: { type: 'string' },
      secret: { type: 'string' },
      grace: { type: 'string' },
      json: { type: 'boolean', default: false },
    },
    strict: true,
  });
  const dataDir =
    values['data-dir'] ??
    (values.config !== undefined ? loadGatewayConfig(values.config).dataDir : undefined) ??
    '.fhirwatch/gateway';
  const need = (name: 'client' | 'secret'): string => {
    const value = values[name];
    if (value === undefined || value === '') throw new UsageError(`${action} needs --${name}`);
    return value;
  };
  const registry = openClientRegistry({ dataDir });
  try {
    switch (action) {
      case 'create': {
        const tenants = values.tenant ?? [];
        if (tenants.length === 0) throw new UsageError('create needs at least one --tenant <guid>');
        const issued = await registry.createClient({ tenants, name: values.name });
        process.stdout.write(`${JSON.stringify(issued)}\n`);
        return 0;
      }
      case 'list': {
        const clients = registry.listClients();
        process.stdout.write(values.json ? `${JSON.stringify(clients)}\n` : table(clients));
        return 0;
      }
      case 'rotate': {
        const graceSeconds = numberFlag('grace', values.grace, { min: 0, integer: false });
        const issued = await registry.rotateSecret(need('client'), graceSeconds === undefined ? {} : { graceSeconds });
        process.stdout.write(`${JSON.stringify(issued)}\n`);
        return 0;
      }
      case 'revoke':
        registry.revokeSecret(need('client'), need('secret'));
        process.stdout.write('revoked\n');
        return 0;
      default:
        registry.deleteClient(need('client'));
        process.stdout.write('deleted\n');
        return 0;
    }
  } catch (error) {
    const code = (error as { code?: string }).code;
    if (typeof code === 'string' && code.startsWith('FW_GATEWAY_')) {
      process.stderr.write(`fhirwatch clients: ${(error as Error).message} (${code})\n`);
      return 1;
    }
    throw error;
  } finally {
    registry.close();
  }
}
