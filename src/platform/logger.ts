import pino from 'pino';

export type Logger = pino.Logger;

/** `level` comes from the configuration (LOG_LEVEL, read in config.ts). */
export function createLogger(level: string): Logger {
  return pino({ level, base: { service: 'tenure' } });
}
