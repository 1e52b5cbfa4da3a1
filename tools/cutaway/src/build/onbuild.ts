import { parseTriggers, type HealthCheck, type Instruction } from '@cutaway/dockerfile';
import type { ContainerConfig } from '@cutaway/oci';

/**
 * HEALTHCHECK and ONBUILD in a build: the config changes they make (layer-commit --change, libs/oci
 * config-change.ts), and the ONBUILD triggers of a base image, run first in a stage built FROM it.
 */

/** HEALTHCHECK as layer-commit's --change takes it: durations in nanoseconds, exec form as JSON. */
export function healthcheckChange(check: HealthCheck): string {
  if (check.type === 'NONE') return 'HEALTHCHECK NONE';
  const flags = (
    [
      ['interval', check.interval],
      ['timeout', check.timeout],
      ['start-period', check.startPeriod],
      ['start-interval', check.startInterval],
    ] as const
  ).flatMap(([flag, ns]) => (ns ? [`--${flag}=${ns}ns`] : []));
  if (check.retries) flags.push(`--retries=${check.retries}`);
  const command = check.command.form === 'exec' ? JSON.stringify(check.command.args) : check.command.text;
  return ['HEALTHCHECK', ...flags, 'CMD', command].join(' ');
}

/** The change that empties OnBuild: a stage's image keeps none of its base's triggers (Docker, buildah). */
export const CLEAR_ONBUILD = 'ONBUILD []';

/** The base image's ONBUILD triggers, parsed (errors name the image), to run before the stage's own instructions. */
export function baseTriggers(config: ContainerConfig, image: string): Instruction[] {
  const triggers = (config.OnBuild as string[] | null | undefined) ?? [];
  return triggers.length ? parseTriggers(triggers, `${image} (ONBUILD)`) : [];
}
