/** The run log (`train-log.jsonl`): the library's records and file helpers (hub run-log.ts). */
export { LOG_FILE, StepRecordC, EpochRecordC, LogRecordC, parseLog, readLog, truncateLog, appendLog, type StepRecord, type EpochRecord, type LogRecord } from '@prefix-tuning/hub';
