/**
 * V8's optimizing compiler, for CLIs. A command that runs hot loops in a short process (`vmadm list`
 * of a thousand VMs) gets nothing from it: it compiles on another core for tens of ms, and the
 * process waits for that work at exit. Such a command turns it off before its loops. Not on the
 * command line (`node --no-opt`): flags given there also make Node compile its own modules afresh
 * (their code cache is tied to the flags), which costs every other command more than it saves.
 * `node:v8` is loaded only then: it brings Node's stream modules, ~5 ms a small list need not pay.
 * @module
 */

export function noOptimizer(): void {
  process.getBuiltinModule('node:v8').setFlagsFromString('--no-opt');
}
