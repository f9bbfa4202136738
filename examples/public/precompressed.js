// Served from its Brotli variant (precompressed.js.br, made from this file when the demo starts) to a
// browser that accepts br. The table below only gives the file some bulk worth compressing.
(() => {
  const rows = [];
  for (let i = 0; i < 64; i++) rows.push({ index: i, square: i * i, label: `row ${i} of the table` });
  const status = document.getElementById('script-status');
  if (status !== null) {
    status.textContent = `the script ran: ${rows.length} rows built, last ${rows[rows.length - 1].label}`;
    status.dataset.loaded = 'yes';
  }
})();
