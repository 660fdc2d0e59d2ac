/**
 * `npm run bench:cluster` (as root): what a group costs (bench/cluster-figures.ts), alone and at
 * more rounds than `npm run bench` takes. Prints the figures; they go into bench/README.md by hand,
 * with the machine's load.
 *
 *   node dist/bench/cluster.js [--rounds 40] [--readers 2,8,32] [--load-seconds 5] [--appendfsync always|everysec]
 *                              [--firewall iptables|nftables]
 * @module
 */
import { cpus, loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { CLUSTER_HEADER, clusterRows, measureCluster, REDIS_HEADER, redisRows } from './cluster-figures.js';
import { textTable } from './report.js';

const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '40' },
    readers: { type: 'string', default: '2,8,32' },
    'load-seconds': { type: 'string', default: '5' },
    appendfsync: { type: 'string', default: 'always' },
    firewall: { type: 'string', default: 'iptables' },
  },
});

const load0 = loadavg()[0] ?? 0;
const rounds = Number(values.rounds);
const appendfsync = values.appendfsync;
if (appendfsync !== 'always' && appendfsync !== 'everysec') throw new Error('--appendfsync: always or everysec');
const firewall = values.firewall;
if (firewall !== 'iptables' && firewall !== 'nftables') throw new Error('--firewall: iptables or nftables');
const figures = await measureCluster({
  rounds,
  readers: values.readers.split(',').map(Number),
  loadSeconds: Number(values['load-seconds']),
  appendfsync,
  firewall,
});
const load1 = loadavg()[0] ?? 0;
process.stdout.write(
  `cluster bench: ${cpus().length} CPUs, node ${process.version}, load average ${load0.toFixed(2)} before, ${load1.toFixed(2)} after; ${rounds} rounds; Redis appendfsync ${appendfsync}; firewall ${firewall}\n`,
);
process.stdout.write(`${textTable(CLUSTER_HEADER, clusterRows(figures))}\n\n${textTable(REDIS_HEADER, redisRows(figures))}\n`);
const { single, grouped, throughB } = figures.failed;
if (single + grouped + throughB > 0)
  process.stdout.write(`rounds that did not connect within 3 s: ${single} alone, ${grouped} in a group, ${throughB} through B\n`);
