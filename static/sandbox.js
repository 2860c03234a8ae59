// Small progressive enhancements: copy buttons, live job progress, slug suggestion,
// and forms that cannot be submitted twice.
(function () {
  "use strict";

  document.addEventListener("click", function (event) {
    var button = event.target.closest("button.copy");
    if (!button) return;
    event.preventDefault();
    var text = button.getAttribute("data-copy");
    var done = function () { button.textContent = "Copied"; setTimeout(function () { button.textContent = "Copy"; }, 1500); };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(done);
    } else {
      var area = document.createElement("textarea");
      area.value = text; document.body.appendChild(area); area.select();
      document.execCommand("copy"); area.remove(); done();
    }
  });

  document.addEventListener("submit", function (event) {
    var button = event.target.querySelector("button[data-once]");
    if (!button) return;
    if (button.dataset.sent) { event.preventDefault(); return; }
    button.dataset.sent = "1";
  });

  function slugify(name) {
    return name.toLowerCase().normalize("NFKD").replace(/[\u0300-\u036f]/g, "")
      .replace(/[^a-z0-9]+/g, "-").replace(/^-+|-+$/g, "").slice(0, 40).replace(/-+$/, "");
  }

  document.querySelectorAll("form[data-slug-from]").forEach(function (form) {
    var from = document.getElementById(form.dataset.slugFrom);
    var to = document.getElementById(form.dataset.slugTo);
    if (!from || !to) return;
    var edited = to.value !== "";
    to.addEventListener("input", function () { edited = to.value !== ""; });
    from.addEventListener("input", function () { if (!edited) to.value = slugify(from.value); });
  });

  var progress = document.getElementById("progress");
  if (progress) {
    var bar = document.getElementById("progress-bar");
    var message = document.getElementById("progress-message");
    var poll = function () {
      fetch(progress.dataset.progressUrl, { credentials: "same-origin" })
        .then(function (r) { return r.json(); })
        .then(function (data) {
          if (data.job) { bar.value = data.job.progress; message.textContent = data.job.message || "Working…"; }
          if (data.status !== "provisioning") { window.location.reload(); } else { setTimeout(poll, 1000); }
        })
        .catch(function () { setTimeout(poll, 3000); });
    };
    setTimeout(poll, 500);
  }
})();
