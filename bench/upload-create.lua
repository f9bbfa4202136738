-- tus creation requests for bench/uploads.ts (POST /files, a 1 KiB upload declared), and wrk's summary
-- printed as one JSON line (completed requests, status errors).
wrk.method = "POST"
wrk.path = "/files"
wrk.headers["Tus-Resumable"] = "1.0.0"
wrk.headers["Upload-Length"] = "1024"

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRK_JSON {"requests":%d,"duration_us":%d,"status_errors":%d,"connect":%d,"read":%d,"write":%d,"timeout":%d}\n',
    summary.requests, summary.duration, e.status, e.connect, e.read, e.write, e.timeout))
end
