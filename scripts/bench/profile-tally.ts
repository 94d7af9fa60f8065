/**
 * Profiles' time by function, summed over as many profiles as a run takes: self time (samples in
 * the function's own code, the native calls it makes included) and inclusive time (samples with
 * the function anywhere on the stack, counted once however often it recurses).
 */
import type { CallFrame, Profile, ProfileNode } from './profiler.ts'

/**
 * V8's frames for no JS at all: the call tree's root, and the thread outside JS. workerd marks no
 * idle time, so `(program)` holds the waits between requests beside workerd's own C++; neither is
 * the worker's code, and only the rest (JS, and the garbage collector) counts as busy.
 */
const OUTSIDE_JS = new Set(['(root)', '(program)', '(idle)'])

export type Tally = {
  /** µs per frame key (keyOf), in the function's own code. */
  self: Map<string, number>
  /** µs per frame key with the function on the stack. */
  inclusive: Map<string, number>
  frames: Map<string, CallFrame>
  /** µs sampled in JS or the garbage collector. */
  busyUs: number
  /** µs from each profile's start to its stop, summed. */
  sampledUs: number
}

export const newTally = (): Tally => ({ self: new Map(), inclusive: new Map(), frames: new Map(), busyUs: 0, sampledUs: 0 })

/** A function is its name and where it starts: two closures of one source function are one frame. */
const keyOf = ({ functionName, url, lineNumber, columnNumber }: CallFrame) => `${functionName}\u0000${url}:${lineNumber}:${columnNumber}`

const add = (map: Map<string, number>, key: string, us: number) => map.set(key, (map.get(key) ?? 0) + us)

/** Each sample lasts until the next one, the last until the profile's end (as DevTools reads a profile). */
function selfTimeByNode({ samples, timeDeltas, startTime, endTime }: Profile): Map<number, number> {
  const byNode = new Map<number, number>()
  let at = startTime + (timeDeltas[0] ?? 0)
  for (let i = 0; i < samples.length; i++) {
    const next = i + 1 < samples.length ? at + timeDeltas[i + 1]! : endTime
    byNode.set(samples[i]!, (byNode.get(samples[i]!) ?? 0) + Math.max(0, next - at))
    at = next
  }
  return byNode
}

/** Adds one profile to the tally. */
export function addProfile(tally: Tally, profile: Profile) {
  const byId = new Map(profile.nodes.map((node) => [node.id, node]))
  const children = (node: ProfileNode) => (node.children ?? []).map((id) => byId.get(id)!)
  const childIds = new Set(profile.nodes.flatMap((node) => node.children ?? []))
  const root = profile.nodes.find((node) => !childIds.has(node.id))
  if (!root) return
  const selfUs = selfTimeByNode(profile)
  tally.sampledUs += profile.endTime - profile.startTime

  // Depth first, parents before children; read backwards, every node's subtree is summed before it.
  const preOrder: ProfileNode[] = []
  for (const stack = [root]; stack.length > 0; ) {
    const node = stack.pop()!
    preOrder.push(node)
    stack.push(...children(node))
  }
  const subtreeUs = new Map<number, number>()
  for (const node of preOrder.toReversed()) {
    const own = selfUs.get(node.id) ?? 0
    subtreeUs.set(node.id, own + children(node).reduce((sum, child) => sum + subtreeUs.get(child.id)!, 0))
    if (OUTSIDE_JS.has(node.callFrame.functionName) || own === 0) continue
    const key = keyOf(node.callFrame)
    tally.frames.set(key, node.callFrame)
    add(tally.self, key, own)
    tally.busyUs += own
  }

  // Inclusive time goes to a function's outermost call only: its subtree holds every inner one.
  const onStack = new Map<string, number>()
  for (const stack: [ProfileNode, 'enter' | 'leave'][] = [[root, 'enter']]; stack.length > 0; ) {
    const [node, step] = stack.pop()!
    if (OUTSIDE_JS.has(node.callFrame.functionName)) {
      if (step === 'enter') for (const child of children(node)) stack.push([child, 'enter'])
      continue
    }
    const key = keyOf(node.callFrame)
    if (step === 'leave') {
      onStack.set(key, onStack.get(key)! - 1)
      continue
    }
    if (!onStack.get(key)) {
      tally.frames.set(key, node.callFrame)
      add(tally.inclusive, key, subtreeUs.get(node.id)!)
    }
    onStack.set(key, (onStack.get(key) ?? 0) + 1)
    stack.push([node, 'leave'])
    for (const child of children(node)) stack.push([child, 'enter'])
  }
}

/** The `count` frames with the most time in `times`, most first. */
export function topFrames(tally: Tally, times: Map<string, number>, count: number): { frame: CallFrame; us: number }[] {
  return [...times]
    .sort((a, b) => b[1] - a[1])
    .slice(0, count)
    .map(([key, us]) => ({ frame: tally.frames.get(key)!, us }))
}
