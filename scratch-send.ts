import Fastify from 'fastify';
import { Readable } from 'node:stream';
const parts = Buffer.alloc(1743000, 'a');
const tail = Buffer.from(']}');
const app = Fastify();
app.get('/concat', async (_r, reply) => reply.type('application/json').send(Buffer.concat([Buffer.from('{"x":"' + new Date().toISOString() + '",'), parts, tail])));
app.get('/stream', async (_r, reply) => {
  const head = Buffer.from('{"x":"' + new Date().toISOString() + '",');
  reply.header('content-length', head.length + parts.length + tail.length);
  return reply.type('application/json').send(Readable.from([head, parts, tail], { objectMode: false }));
});
await app.listen({ port: 0, host: '127.0.0.1' });
const port = (app.server.address() as any).port;
for (const round of [1, 2, 3]) for (const path of ['/concat', '/stream']) {
  const n = 150;
  const cpu0 = process.cpuUsage(); const t0 = performance.now();
  for (let i = 0; i < n; i++) { const r = await fetch(`http://127.0.0.1:${port}${path}`); const t = await r.text(); if (t.length < 1743000) throw new Error('short'); }
  const cpu = process.cpuUsage(cpu0);
  console.log(round, path, 'ms/req', ((performance.now() - t0) / n).toFixed(2), 'cpu ms/req', ((cpu.user + cpu.system) / 1000 / n).toFixed(2));
}
await app.close();
