export type { Asset } from './assets.ts';
export { consoleAssets } from './assets.ts';
export type { ConsoleOptions, ConsoleServer } from './server.ts';
export { consoleHandler, consolePanels, startConsole } from './server.ts';
