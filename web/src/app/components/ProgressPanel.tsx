// The seed's progress panel: four stages, a percentage bar and the current step.
import { STAGES, type Stage } from '../../sdk/protocol.js';
import type { StreamProgress } from '../../sdk/stream-handle.js';

const STAGE_LABEL: Record<Stage, string> = {
  initializing: 'Initializing',
  analyzing: 'Analyzing',
  generating: 'Generating',
  finalizing: 'Finalizing',
};

export function ProgressPanel({ progress }: { progress: StreamProgress }) {
  const current = Math.max(0, STAGES.indexOf(progress.stage));
  const pct = Math.max(0, Math.min(100, Math.round(progress.progress)));
  return (
    <div className="progress-panel" data-testid="progress-panel" data-stage={progress.stage}>
      <div className="progress-top">
        <span>Processing progress</span>
        <span data-testid="progress-percent">{pct}%</span>
      </div>
      <div className="progress-bar" role="progressbar" aria-valuemin={0} aria-valuemax={100} aria-valuenow={pct}>
        <div className="progress-fill" style={{ width: `${pct}%` }} />
      </div>
      <ol className="stages">
        {STAGES.map((s, i) => {
          const state = i < current ? 'done' : i === current ? 'current' : 'todo';
          return (
            <li key={s} className={`stage stage-${state}`} data-testid={`stage-${s}`} data-state={state}>
              <span className="stage-dot">{state === 'done' ? '✓' : i + 1}</span>
              <span className="stage-label">{STAGE_LABEL[s]}</span>
            </li>
          );
        })}
      </ol>
      <div className="progress-step" data-testid="progress-step">
        {progress.step}
      </div>
    </div>
  );
}
