/**
 * Tributary's public library API, exported by hand. Config files import from here:
 *   import { defineConfig } from 'tributary';
 */
export { defineConfig } from './config/schema.ts';
export type { Config, ConfigInput, SyncConfig, TargetConfig, ColumnConfig, ColumnObjectConfig } from './config/schema.ts';
