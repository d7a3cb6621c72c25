// The run page's live log. Lines come over Server-Sent Events (#log's data-stream-url) when the
// browser has EventSource; the htmx poller (#log-poller, every 1 s) is the fallback and stays
// idle while the stream is open. Both append the same fragment (new lines + the next poller out
// of band); the poller's data-seq is what the page shows, and a batch that does not start there
// is never appended: lines are never lost or doubled whichever source brings them.
(function () {
  var source = null;

  function poller() { return document.getElementById("log-poller"); }
  function shownSeq() { var p = poller(); return p ? parseInt(p.dataset.seq, 10) : -1; }
  function streaming() { return source !== null && source.readyState === EventSource.OPEN; }

  function closeStream() {
    if (source) source.close();
    source = null;
  }

  function openStream() {
    closeStream();
    var log = document.getElementById("log");
    var p = poller();
    if (!log || !log.dataset.streamUrl || !p || p.dataset.final || !window.EventSource || !window.htmx) return;
    var url = log.dataset.streamUrl + "?after=" + encodeURIComponent(p.dataset.seq) +
      "&status=" + encodeURIComponent(p.dataset.status || "") +
      "&task_stage=" + encodeURIComponent(p.dataset.taskStage || "");
    var stream = new EventSource(url);
    source = stream;
    stream.addEventListener("lines", function (event) {
      var batch = JSON.parse(event.data);
      var seq = shownSeq();
      if (batch.from === seq) {
        var lines = document.getElementById("log-lines");
        htmx.swap(lines, batch.html, { swapStyle: "beforeend" }, { eventInfo: { target: lines } });
      } else if (batch.to > seq) {
        openStream(); // a gap or an overlap (the poller ran meanwhile): go on from what the page shows
      } // else: the page has these lines already
    });
    stream.addEventListener("run", function (event) {
      htmx.trigger(document.body, "run-updated", JSON.parse(event.data));
    });
    stream.addEventListener("end", function () { if (source === stream) closeStream(); });
    stream.addEventListener("error", function () {
      // CLOSED: refused (e.g. not an event stream); the poller takes over for good. While the
      // browser reconnects (CONNECTING) the poller runs too; the seq check keeps them apart.
      if (stream.readyState === EventSource.CLOSED && source === stream) source = null;
    });
  }

  if (!window.iacLiveLog) {
    window.iacLiveLog = { open: openStream, streaming: streaming };
    document.addEventListener("htmx:beforeRequest", function (event) {
      if (event.detail.elt.id === "log-poller" && streaming()) event.preventDefault();
    });
    document.addEventListener("htmx:beforeSwap", function (event) {
      // A poll answer that arrives after the stream replaced its poller: those lines are on the page.
      var elt = event.detail.elt;
      if (elt.id === "log-poller" && (elt !== poller() || elt.dataset.seq !== String(shownSeq()))) {
        event.detail.shouldSwap = false;
      }
    });
    // Follow the log while the reader is at its end; leave them alone when they scrolled up.
    var follow = true;
    document.addEventListener("scroll", function (event) {
      var log = document.getElementById("log");
      if (event.target === log) follow = log.scrollHeight - log.scrollTop - log.clientHeight < 40;
    }, true);
    document.addEventListener("htmx:afterSwap", function (event) {
      var log = document.getElementById("log");
      if (log && event.detail && event.detail.target && event.detail.target.id === "log-lines" && follow) {
        log.scrollTop = log.scrollHeight;
      }
    });
  }
  var log = document.getElementById("log");
  if (log && !location.hash) log.scrollTop = log.scrollHeight;
  openStream();
})();
