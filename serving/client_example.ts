// A client of the serving API: scores candidates for a user (JSON, then the same request as
// protobuf) and, when the server has a retrieval model, asks for recommendations.
//   npx tsx serving/client_example.ts [--url=http://127.0.0.1:8080]
import { messageType } from './codec.js';

const url = process.argv.find((a) => a.startsWith('--url='))?.slice(6) ?? 'http://127.0.0.1:8080';

// A MovieLens-100K-like history: (movie id, Unix time, rating), oldest first.
const history = [
  ['242', 881250949, 3], ['302', 891717742, 3], ['377', 878887116, 1], ['51', 883191477, 2],
  ['346', 886397596, 1], ['474', 884182806, 4], ['265', 881171488, 2], ['465', 891628467, 5],
].map(([item_id, timestamp, action]) => ({ item_id, timestamp, action }));
const score = { user_id: 'user-196', history, candidates: ['1', '50', '100', '181', '258', '286', '288', '294'], top_k: 3 };

async function main(): Promise<void> {
  const health = (await (await fetch(`${url}/healthz`)).json()) as { ranking: boolean; retrieval: boolean };
  console.log('healthz:', health);
  if (health.ranking) {
    const res = await fetch(`${url}/v1/score`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(score) });
    const body = (await res.json()) as { top: { item_id: string; p_like: number; rating: number }[]; cache: string };
    console.log(`POST /v1/score (JSON) → ${res.status}, cache ${body.cache}; top 3:`);
    for (const s of body.top) console.log(`  movie ${s.item_id.padStart(4)}  P(like) ${s.p_like.toFixed(3)}  predicted rating ${s.rating.toFixed(2)}`);
    // The same request as protobuf (serving/proto/serving.proto); the second call hits the cache.
    const Req = messageType('ScoreRequest'), Res = messageType('ScoreResponse');
    const pb = await fetch(`${url}/v1/score`, { method: 'POST', headers: { 'content-type': 'application/x-protobuf' }, body: Req.encode(Req.fromObject(score)).finish() });
    const decoded = Res.toObject(Res.decode(new Uint8Array(await pb.arrayBuffer()))) as { top: { item_id: string }[]; cache: string };
    console.log(`POST /v1/score (protobuf) → ${pb.status}, cache ${decoded.cache}; top: ${decoded.top.map((t) => t.item_id).join(', ')}`);
  }
  if (health.retrieval) {
    const res = await fetch(`${url}/v1/recommend`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ user_id: 'user-196', history, top_k: 5 }) });
    const body = (await res.json()) as { stage: string; items: { item_id: string; retrieval_score: number; p_like?: number }[] };
    console.log(`POST /v1/recommend → ${res.status}, stage ${body.stage}:`);
    for (const it of body.items) console.log(`  movie ${it.item_id.padStart(4)}  score ${it.retrieval_score.toFixed(3)}${it.p_like !== undefined ? `  P(like) ${it.p_like.toFixed(3)}` : ''}`);
  }
}

main().catch((e: Error) => {
  console.error(`client: ${e.message}. HINT: start the server first (npm run serve -- --ranking=<checkpoint>).`);
  process.exit(1);
});
