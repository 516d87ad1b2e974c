// The trigger form's param fields write into the configuration JSON, as Airflow's form does.
// Without JavaScript the JSON textarea (prefilled with the params' defaults) is the form.
(function () {
  "use strict";
  function value(input) {
    var type = input.dataset.type;
    if (input.tagName === "SELECT") { return JSON.parse(input.value); }
    if (type === "boolean") { return input.checked; }
    if (type === "integer" || type === "number") {
      return input.value === "" ? null : Number(input.value);
    }
    if (type === "array" || type === "object") { return JSON.parse(input.value); }
    return input.value;
  }
  document.addEventListener("DOMContentLoaded", function () {
    var form = document.getElementById("trigger-form");
    var conf = document.getElementById("conf");
    if (!form || !conf) { return; }
    form.querySelectorAll("[data-param]").forEach(function (input) {
      var sync = function () {
        var current;
        try { current = JSON.parse(conf.value || "{}"); } catch (e) { return; }
        try { current[input.dataset.param] = value(input); } catch (e) { return; }
        conf.value = JSON.stringify(current, null, 2);
      };
      input.addEventListener("change", sync);
      input.addEventListener("input", sync);
    });
  });
})();
