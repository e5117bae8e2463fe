/** The on-call subcommands of the `oomwatch` binary; src/cli.ts lists them in its COMMANDS table. */
export { eventsCommand } from './events';
export { inspectCommand } from './inspect';
export { topCommand } from './top';
export { recommendCommand } from './recommend';
