/** Authentication and authorization (DESIGN §7): API keys, the Caller's rights, the Guard, TLS. */
export { Caller, RESERVED_DOMAIN } from './caller';
export { Guard, guardOptions, type AuthMode, type AuthSettings, type CallSite, type GuardOptions, type ReloadOutcome, type StreamStop } from './guard';
export { SCOPES, SECRET_PREFIX, hashSecret, newSecret, parseKeys, readKeysFile, type ApiKey, type Scope } from './keys';
export { isLoopback, listenerPolicy } from './listeners';
export { loadTls, type TlsMaterial, type TlsSettings } from './tls';
export { KEYS_USAGE, keysCommand, type KeysCommandIo } from './keys-command';
