/**
 * The --config option of the commands that read the server's config (server, grants, doctor).
 * @module
 */
export const CONFIG_OPTION = ['--config <file>', 'server config (TOML)', '/etc/knockspa/server.toml'] as const;
