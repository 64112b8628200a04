// The copy button of a share link: copies the field named by data-copy and says so.
document.addEventListener("click", function (event) {
  var button = event.target.closest("[data-copy]");
  if (!button) return;
  var field = document.getElementById(button.getAttribute("data-copy"));
  if (!field) return;
  var status = button.parentElement.querySelector(".copied");
  var done = function () { if (status) status.textContent = "Link copied"; };
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
