/** CPU time of processes and threads from /proc: the command line's module (cli/loadgen/proc-cpu.ts). */
export { cpuMicros, cpuTicks, postgresCpuMicros, postgresPids } from '../../cli/loadgen/proc-cpu.js'
