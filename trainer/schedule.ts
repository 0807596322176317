// Learning-rate schedules: lr at a given optimizer step (0-based) of totalSteps.

export type LrSchedule = 'constant' | 'cosine' | 'linear-warmup';

export function learningRate(schedule: LrSchedule, base: number, step: number, totalSteps: number, warmupSteps: number): number {
  const warm = warmupSteps > 0 && step < warmupSteps ? (step + 1) / warmupSteps : 1;
  switch (schedule) {
    case 'constant':
      return base;
    case 'linear-warmup':
      return base * warm;
    case 'cosine': {
      if (warmupSteps > 0 && step < warmupSteps) return base * warm;
      const span = Math.max(1, totalSteps - warmupSteps);
      const t = Math.min(1, (step - warmupSteps) / span);
      return base * 0.5 * (1 + Math.cos(Math.PI * t));
    }
  }
}
