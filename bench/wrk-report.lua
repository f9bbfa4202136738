-- Prints wrk's summary as one JSON line for bench/run.ts (bytes read, completed requests, errors).
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRK_JSON {"requests":%d,"bytes":%d,"duration_us":%d,"status_errors":%d,"connect":%d,"read":%d,"write":%d,"timeout":%d}\n',
    summary.requests, summary.bytes, summary.duration, e.status, e.connect, e.read, e.write, e.timeout))
end
