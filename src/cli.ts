/** The command line: `event-spine <command>`. */
import { Store } from './store';

const USAGE = `usage: event-spine <command> [flags]

commands:
  serve      run the daemon (default data directory ./data)
`;

export async function main(argv: string[]): Promise<number> {
  const [command] = argv;
  switch (command) {
    case 'serve':
      return serve();
    default:
      process.stderr.write(USAGE);
      return command === undefined || command === 'help' || command === '--help' ? 0 : 2;
  }
}

async function serve(): Promise<number> {
  const store = await Store.open({
    dataDir: './data',
    segmentBytes: 128 * 1024 * 1024,
    durability: 'fsync',
    defaultOrganizationId: 'default',
    defaultEnvironment: 'prod',
    maxPayloadBytes: 64 * 1024,
    maxBatchEvents: 10_000,
  });
  process.stdout.write(`${JSON.stringify({ level: 'info', msg: 'store open', head: store.head() })}\n`);
  await new Promise<void>((resolve) => {
    process.once('SIGTERM', resolve);
    process.once('SIGINT', resolve);
  });
  await store.close();
  return 0;
}
