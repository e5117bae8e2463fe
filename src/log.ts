import pino, { type Logger } from 'pino';
import { isoUtc } from './iso-time';

/** JSON logs to stdout, one child logger per module (`module` field), errors under `err`. */
export function createLogger(level: string, destination?: pino.DestinationStream): Logger {
  return pino(
    {
      level,
      base: { service: 'oomwatch' },
      timestamp: isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    destination ?? pino.destination({ fd: 1, sync: false }),
  );
}

/** A logger that drops everything, for tests and for CLI commands that print their own output. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}

/** pino's timestamp field: `,"time":"2026-12-05T23:10:00.123Z"`, as pino.stdTimeFunctions.isoTime writes it. */
function isoTime(): string {
  return `,"time":"${isoUtc(Date.now())}"`;
}
