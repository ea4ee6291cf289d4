// The gateway's page script for Genesys Co-browse for Messenger.
//
// Add it to the pages that run your Genesys Messenger snippet, after the
// snippet:
//
//   <script src="https://GATEWAY/messenger-cobrowse.js" async></script>
//
// It tells the gateway when a co-browse session starts and ends, which no
// Genesys route or topic reports: it subscribes to the Messenger's
// CobrowseService (web messaging) and CobrowseVoice (voice) events
// sessionStarted and sessionEnded, and posts each to
// /messenger/page-reports on the gateway it was loaded from. Nothing else:
// no page content, no message, no join code. The gateway accepts reports
// only from the origins in messenger.page_origins and only for sessions it
// already knows.
//
// Which field of an event's data holds the session id is not in any SDK
// the gateway's authors could read (docs/upstream.md): this script takes
// the first string of `sessionId`, `id` or `session.id`.
(function () {
  "use strict";
  var script = document.currentScript;
  var endpoint = new URL("/messenger/page-reports", script ? script.src : location.href).href;
  var channels = [["CobrowseService", "webmessaging"], ["CobrowseVoice", "voice"]];
  var events = ["sessionStarted", "sessionEnded"];

  function sessionOf(data) {
    if (!data || typeof data !== "object") return null;
    var candidates = [data.sessionId, data.id, data.session && data.session.id];
    for (var i = 0; i < candidates.length; i++) {
      if (typeof candidates[i] === "string" && candidates[i].length > 0 && candidates[i].length <= 256) {
        return candidates[i];
      }
    }
    return null;
  }

  function report(event, channel, data) {
    var sessionId = sessionOf(data);
    if (!sessionId) return;
    var body = JSON.stringify({ sessionId: sessionId, event: event, channel: channel });
    // A beacon survives the page being closed (the usual end of a session).
    if (navigator.sendBeacon && navigator.sendBeacon(endpoint, body)) return;
    fetch(endpoint, { method: "POST", body: body, keepalive: true, headers: { "content-type": "text/plain" } })
      .catch(function () {});
  }

  function subscribe(genesys) {
    channels.forEach(function (pair) {
      events.forEach(function (event) {
        genesys("subscribe", pair[0] + "." + event, function (e) {
          report(event, pair[1], e && e.data);
        });
      });
    });
  }

  // The Messenger snippet defines window.Genesys at once (a command queue
  // until the Messenger has loaded); wait a little when this script ran
  // first.
  var tries = 0;
  (function attach() {
    if (typeof window.Genesys === "function") {
      subscribe(window.Genesys);
    } else if (tries++ < 100) {
      setTimeout(attach, 100);
    }
  })();
})();
