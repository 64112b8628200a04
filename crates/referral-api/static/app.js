// The copy button of a share link: copies the field named by data-copy and says so.
document.addEventListener("click", function (event) {
  var button = event.target.closest("[data-copy]");
  if (!button) return;
  var field = document.getElementById(button.getAttribute("data-copy"));
  if (!field) return;
  var status = button.parentElement.querySelector(".copied");
  var done = function () { if (status) status.textContent = button.getAttribute("data-copied") || "Link copied"; };
  field.select();
  if (navigator.clipboard && window.isSecureContext) {
    navigator.clipboard.writeText(field.value).then(done, function () {
      document.execCommand("copy"); done();
    });
  } else {
    document.execCommand("copy"); done();
  }
});

// The Web Share API, where the browser has it: the share button appears and opens the
// device's own share sheet with the text (which carries the reward disclosure).
(function () {
  if (!navigator.share) return;
  document.querySelectorAll("[data-share-text]").forEach(function (button) {
    button.hidden = false;
    button.addEventListener("click", function () {
      navigator.share({
        title: "Join me on Zappy Health",
        text: button.getAttribute("data-share-text"),
      }).catch(function () {});
    });
  });
})();

// Times in the viewer's time zone: the service's --display-time-zone when the page names
// one, else the browser's; the footer says which. Without script, times read in UTC.
(function () {
  var times = document.querySelectorAll("time[datetime]");
  if (!times.length || !window.Intl) return;
  var root = document.documentElement;
  var lang = root.lang || "en";
  var zone = root.getAttribute("data-time-zone") || undefined;
  var format;
  try {
    format = new Intl.DateTimeFormat(lang, { dateStyle: "medium", timeStyle: "short", timeZone: zone });
  } catch (e) {
    zone = undefined;
    format = new Intl.DateTimeFormat(lang, { dateStyle: "medium", timeStyle: "short" });
  }
  times.forEach(function (el) {
    var at = new Date(el.getAttribute("datetime"));
    if (!isNaN(at)) el.textContent = format.format(at);
  });
  var used = format.resolvedOptions().timeZone;
  var label = document.getElementById("time-zone");
  if (label) {
    label.textContent = used;
    label.parentElement.hidden = false;
  }
})();

// On a narrow screen a table reads as stacked rows: each cell carries its column's name.
(function () {
  document.querySelectorAll("table").forEach(function (table) {
    var names = Array.prototype.map.call(table.querySelectorAll("thead th"), function (th) {
      return th.textContent.trim();
    });
    if (!names.length) return;
    table.querySelectorAll("tbody tr").forEach(function (row) {
      Array.prototype.forEach.call(row.children, function (cell, i) {
        if (names[i]) cell.setAttribute("data-label", names[i]);
      });
    });
    table.classList.add("stacked");
  });
})();

// Forms that help: after a refused submit the summary takes focus (its links lead to
// each field); the referral form shows what the chosen way of sharing needs.
(function () {
  var problems = document.getElementById("problems");
  if (problems) problems.focus();
  document.querySelectorAll("#problems a[href^='#']").forEach(function (link) {
    link.addEventListener("click", function (event) {
      var field = document.getElementById(link.getAttribute("href").slice(1));
      if (!field) return;
      event.preventDefault();
      field.focus();
      field.scrollIntoView({ block: "center" });
    });
  });
  document.querySelectorAll("form[data-share-form]").forEach(function (form) {
    var method = form.querySelector("#share_method");
    if (!method) return;
    var show = function () {
      form.querySelectorAll("[data-show-for]").forEach(function (el) {
        el.hidden = el.getAttribute("data-show-for").split(" ").indexOf(method.value) < 0;
      });
    };
    method.addEventListener("change", show);
    show();
  });
})();
