/**
 * Where the processes run, and what workerd spent. On a small machine the load generator, wrangler
 * and workerd otherwise share cores, and a request's latency then measures the scheduler as much as
 * the worker: workerd (the worker, its local D1 and its Durable Objects, on one thread) gets the
 * last core to itself and this process, the load generator, the others. Linux only (taskset, /proc);
 * elsewhere nothing is pinned.
 */
import { spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { availableParallelism } from 'node:os'

const lastCpu = availableParallelism() - 1
const canPin = lastCpu >= 1 && spawnSync('taskset', ['-V']).status === 0

export const pinning = canPin
  ? `workerd on CPU ${lastCpu}, the load generator on CPU${lastCpu > 1 ? `s 0–${lastCpu - 1}` : ' 0'}`
  : 'none (needs Linux taskset and two cores)'

const pin = (pid: number, cpus: string) => spawnSync('taskset', ['-apc', cpus, String(pid)], { stdio: 'ignore' })

/** The workerd processes in a server's process group. */
function workerdPids(group: number): string[] {
  const found = spawnSync('pgrep', ['-g', String(group), '-x', 'workerd'], { encoding: 'utf8' })
  return found.stdout.split('\n').filter(Boolean)
}

/** Keeps the load generator (this process) off the core workerd is given. */
export function pinLoadGenerator() {
  if (canPin) pin(process.pid, lastCpu > 1 ? `0-${lastCpu - 1}` : '0')
}

/** Gives every workerd that a server started (its process group) the last core. */
export function pinWorkerd(group: number) {
  if (!canPin) return
  for (const pid of workerdPids(group)) pin(Number(pid), String(lastCpu))
}

const CLOCK_TICKS = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100

/**
 * CPU time (user + system, ms) spent so far by the workerd processes of a server's process group:
 * the runtime that runs the worker, its local D1 and its Durable Objects. Linux only (/proc).
 */
export function workerdCpuMs(group: number): number {
  let ticks = 0
  for (const pid of workerdPids(group)) {
    try {
      // Fields after the command name (which may hold spaces) start at the state, field 3.
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
      ticks += Number(fields[11]) + Number(fields[12])
    } catch {
      // the process ended
    }
  }
  return (ticks * 1000) / CLOCK_TICKS
}
