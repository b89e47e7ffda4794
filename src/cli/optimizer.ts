/**
 * V8's optimizing compiler, for CLIs. A command that runs hot loops in a short process (`vmadm list`
 * of a thousand VMs) gets nothing from it: it compiles on another core for tens of ms, and the
 * process waits for that work at exit. Such a command turns it off when it starts. Not on the command
 * line (`node --no-opt`): flags given there also make Node compile its own modules afresh (their code
 * cache is tied to the flags), which costs every other command more than it saves.
 * @module
 */
import { setFlagsFromString } from 'node:v8';

export function noOptimizer(): void {
  setFlagsFromString('--no-opt');
}
