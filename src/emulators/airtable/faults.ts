import { createRandom, mixSeed, type Random } from '../../demo/random.ts';

/**
 * Fault injection: `429:0.05,500:0.02,reset:0.01,slow:0.01` gives each request those
 * probabilities of failing in that way. One draw per request from a seeded PRNG, so a given seed
 * and request order always fail the same requests.
 */
export type Fault = '429' | '500' | '502' | '503' | 'reset' | 'slow';

const KNOWN: readonly Fault[] = ['429', '500', '502', '503', 'reset', 'slow'];

export type FaultSpec = readonly (readonly [Fault, number])[];

export function parseFaults(spec: string | undefined): FaultSpec {
  if (!spec?.trim()) return [];
  const out: [Fault, number][] = [];
  let total = 0;
  for (const part of spec.split(',')) {
    const [name, p] = part.trim().split(':');
    const probability = Number(p);
    if (!KNOWN.includes(name as Fault) || !(probability >= 0 && probability <= 1)) {
      throw new RangeError(
        `bad fault "${part}": expected one of ${KNOWN.join(', ')} with a probability 0..1`,
      );
    }
    total += probability;
    out.push([name as Fault, probability]);
  }
  if (total > 1) throw new RangeError(`fault probabilities add up to ${total}, more than 1`);
  return out;
}

export class FaultInjector {
  private readonly rnd: Random;
  constructor(
    private readonly spec: FaultSpec,
    seed: number,
  ) {
    this.rnd = createRandom(mixSeed(seed, 0xfa17));
  }

  /** The fault for the next request, or null. */
  next(): Fault | null {
    if (this.spec.length === 0) return null;
    let r = this.rnd.next();
    for (const [fault, p] of this.spec) {
      if (r < p) return fault;
      r -= p;
    }
    return null;
  }
}
