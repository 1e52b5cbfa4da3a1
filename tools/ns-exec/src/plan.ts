/**
 * The plan ns-exec-plan.ts hands to the ns-exec binary (src/ns-exec.c): the
 * steps before the new namespaces exist (host side), the namespaces to clone,
 * and the steps inside them up to execve (container side). Each step carries
 * the shell command that does the same: --trace prints it as the step runs,
 * and --dry-run's script (script.ts) is made of them.
 *
 * Wire format (read by ns-exec.c): NUL-terminated strings; per step the
 * opcode, its shell text, then its arguments; a list argument is its length
 * followed by its items; numbers in decimal or 0x hex. The last step is
 * `end`: a plan without it (the planner died half-way) is not carried out.
 * The opcodes and each one's arguments are declared in steps.ts.
 */
import { shellCommand, type Steps } from '@cutaway/cli';
import type { ExecSpec } from './exec-step.ts';
import type { ContainerStepName, ContainerSteps, HostStepName, HostSteps, StepName } from './steps.ts';

export type Arg = string | number | bigint | readonly string[];

/** clone(2)/setns(2) namespace flags (linux/sched.h). */
export const CLONE = { NEWNS: 0x20000, NEWCGROUP: 0x02000000, NEWUTS: 0x04000000, NEWIPC: 0x08000000, NEWUSER: 0x10000000, NEWPID: 0x20000000, NEWNET: 0x40000000 };

/**
 * The first word of a plan handed over in a file (NS_EXEC_PLAN_FILE, made by a program with the planner bundled
 * in it, which may have been built apart from this ns-exec): a plan of another format is left alone, and ns-exec
 * plans itself. Bump it with any change to the steps or their arguments; test/steps.test.ts holds ns-exec.c's
 * PLAN_FILE_HEADER equal to it.
 */
export const PLAN_FILE_HEADER = 'ns-exec-plan 2';

export interface Step {
  op: StepName;
  text: string;
  args: Arg[];
}

function encodeArg(arg: Arg): string[] {
  if (typeof arg === 'number') return [String(arg)];
  if (typeof arg === 'bigint') return [`0x${arg.toString(16)}`];
  if (typeof arg === 'string') return [arg];
  return [String(arg.length), ...arg];
}

export class Plan {
  readonly host: Step[] = [];
  readonly container: Step[] = [];
  /** clone(2) flags for the new namespaces, and the unshare(1) options that make the same ones. */
  cloneFlags = 0;
  unshare: string[] = [];
  /** Words run before unshare in the script (nsenter into a namespace to join); alone, with no unshare, under --enter. */
  enter: string[] = [];
  /** --enter: the process whose container is entered. */
  target?: number;
  /** What the exec step starts the command with (exec-step.ts), for the script. */
  exec?: ExecSpec;
  /** A config.json's cgroup directories, one per hierarchy (oci/cgroups.ts cgroupSteps): the runtime's `delete`, `kill --all`, `ps`, `pause` act on them. */
  cgroups?: string[];

  /** A step ns-exec takes before the namespaces exist. */
  hostStep<N extends HostStepName>(op: N, text: string | readonly string[], ...args: HostSteps[N]): void {
    this.host.push({ op, text: typeof text === 'string' ? text : shellCommand(text), args });
  }

  /** A step taken inside the new namespaces, as PID 1 before execve. */
  step<N extends ContainerStepName>(op: N, text: string | readonly string[], ...args: ContainerSteps[N]): void {
    this.container.push({ op, text: typeof text === 'string' ? text : shellCommand(text), args });
  }

  /** `steps`: with --trace, the mark `trace` first, with where its lines go and their label (the planner's Steps). */
  encode(steps: Pick<Steps, 'mode' | 'fd' | 'label'>): Buffer {
    const words: string[] = [];
    const add = (op: StepName, text: string, args: readonly Arg[]) => words.push(op, text, ...args.flatMap(encodeArg));
    if (steps.mode.trace) add('trace', '', [steps.fd, steps.label ?? '']);
    for (const s of this.host) add(s.op, s.text, s.args);
    add('clone', shellCommand(this.launcher()), [this.cloneFlags]);
    for (const s of this.container) add(s.op, s.text, s.args);
    // The end mark: ns-exec starts on a complete plan without waiting for Node to exit.
    add('end', '', []);
    for (const w of words) if (w.includes('\0')) throw new Error(`a NUL byte cannot be passed: ${JSON.stringify(w)}`);
    return Buffer.from(words.map((w) => `${w}\0`).join(''));
  }

  /** encode()'s plan as a file ns-exec reads (NS_EXEC_PLAN_FILE): PLAN_FILE_HEADER first. */
  encodeFile(steps: Pick<Steps, 'mode' | 'fd' | 'label'>): Buffer {
    return Buffer.concat([Buffer.from(`${PLAN_FILE_HEADER}\0`), this.encode(steps)]);
  }

  /** The command that stands for the clone step: unshare(1) for new namespaces, else nsenter(1) for joined ones. */
  launcher(): string[] {
    return this.unshare.length ? ['unshare', ...this.unshare] : this.enter;
  }
}
