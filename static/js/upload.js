// Upload page (templates/benchmarks/upload.html): drag-and-drop, one request per file with a progress bar,
// the detected format and a link per stored run, every error at once, dependent version/delegate choices,
// and the confirmation of exactly which catalog versions a registration creates. Without JS the form posts
// all files at once and the server renders the same results.
(function () {
  "use strict";
  var form = document.querySelector("[data-upload-form]");
  if (!form) return;
  var input = form.querySelector("[data-upload-files]");
  var dropzone = form.querySelector("[data-dropzone]");
  var fileList = form.querySelector("[data-file-list]");
  var progress = form.querySelector("[data-progress]");
  var register = form.querySelector("[data-register]");
  var registerList = form.querySelector("[data-register-list]");
  var results = document.querySelector("[data-results]");
  var resultsBody = document.querySelector("[data-results-body]");
  var catalogNode = document.getElementById("upload-catalog");
  var catalog = catalogNode ? JSON.parse(catalogNode.textContent) : { models: {}, runtimes: {} };
  var pending = [];  // files not stored yet (resent after a registration is confirmed)

  function el(tag, text, cls) {
    var node = document.createElement(tag);
    if (text !== undefined && text !== null) node.textContent = text;
    if (cls) node.className = cls;
    return node;
  }

  // --- dependent choices -------------------------------------------------------------------------
  function fillDatalist(id, values) {
    var list = document.getElementById(id);
    if (!list) return;
    list.replaceChildren();
    (values || []).forEach(function (value) { var option = el("option"); option.value = value; list.appendChild(option); });
  }
  var model = form.querySelector("[name=model]");
  var runtime = form.querySelector("[name=runtime]");
  var delegate = form.querySelector("[name=delegate]");
  function onModel() { fillDatalist("model-versions", catalog.models[model.value]); }
  function onRuntime() {
    var info = catalog.runtimes[runtime.value] || { versions: [], delegates: [] };
    fillDatalist("runtime-versions", info.versions);
    var keep = false;
    delegate.querySelectorAll("optgroup").forEach(function (group) {
      var mine = group.label === runtime.value;
      group.hidden = !mine;
      group.disabled = !mine;
      group.querySelectorAll("option").forEach(function (option) {
        if (mine && option.selected) keep = true;
      });
    });
    if (!keep) {
      var first = delegate.querySelector("optgroup:not([disabled]) option");
      delegate.value = first ? first.value : "";
    }
  }
  if (model) { model.addEventListener("change", onModel); onModel(); }
  if (runtime && delegate) { runtime.addEventListener("change", onRuntime); onRuntime(); }

  // --- files: choose or drop -----------------------------------------------------------------------
  function showFiles() {
    fileList.replaceChildren();
    Array.prototype.forEach.call(input.files, function (file) {
      fileList.appendChild(el("li", file.name + " (" + file.size.toLocaleString() + " bytes)"));
    });
  }
  input.addEventListener("change", function () { pending = Array.prototype.slice.call(input.files); showFiles(); });
  ["dragenter", "dragover"].forEach(function (name) {
    dropzone.addEventListener(name, function (event) { event.preventDefault(); dropzone.classList.add("dragging"); });
  });
  ["dragleave", "drop"].forEach(function (name) {
    dropzone.addEventListener(name, function () { dropzone.classList.remove("dragging"); });
  });
  dropzone.addEventListener("drop", function (event) {
    event.preventDefault();
    var transfer = new DataTransfer();
    Array.prototype.forEach.call(input.files, function (file) { transfer.items.add(file); });
    Array.prototype.forEach.call(event.dataTransfer.files, function (file) { transfer.items.add(file); });
    input.files = transfer.files;
    pending = Array.prototype.slice.call(input.files);
    showFiles();
  });

  // --- results ----------------------------------------------------------------------------------
  function clearFieldErrors() {
    form.querySelectorAll(".js-error").forEach(function (node) { node.remove(); });
  }
  function fieldError(name, messages) {
    var field = form.querySelector("[name=" + name + "]");
    var message = el("span", messages.join(" "), "message message-error js-error");
    message.setAttribute("role", "alert");
    if (field && field.parentNode) field.insertAdjacentElement("afterend", message);
    else form.insertBefore(message, form.firstChild);
  }
  function resultRow(result) {
    var row = el("tr");
    row.appendChild(el("td", result.filename));
    var format = el("td", result.source_format || "");
    if (result.detected && result.source_format) format.appendChild(el("span", " (detected)", "muted"));
    if (result.tool_version) format.appendChild(document.createTextNode(" · " + result.tool_version));
    row.appendChild(format);
    var run = el("td");
    if (result.url) {
      var link = el("a", "run " + result.run);
      link.href = result.url;
      run.appendChild(link);
      run.appendChild(document.createTextNode(" (" + result.status + ")"));
    }
    row.appendChild(run);
    var problems = el("td");
    var keys = Object.keys(result.errors || {});
    if (keys.length) {
      var list = el("ul", null, "errors");
      keys.forEach(function (key) {
        var item = el("li");
        item.appendChild(el("strong", key));
        item.appendChild(document.createTextNode(": " + result.errors[key]));
        list.appendChild(item);
      });
      problems.appendChild(list);
    }
    row.appendChild(problems);
    return row;
  }
  function showRegistration(rows) {
    registerList.replaceChildren();
    rows.forEach(function (row) {
      var item = el("li", row);
      var hidden = el("input");
      hidden.type = "hidden";
      hidden.name = "register_confirmed";
      hidden.value = row;
      item.appendChild(hidden);
      registerList.appendChild(item);
    });
    register.hidden = rows.length === 0;
  }

  function sendOne(file, index, count) {
    return new Promise(function (resolve) {
      var data = new FormData(form);
      data.delete("artifacts");
      data.append("artifacts", file, file.name);
      var request = new XMLHttpRequest();
      request.open("POST", window.location.pathname);
      request.setRequestHeader("Accept", "application/json");
      request.setRequestHeader("X-CSRFToken", form.querySelector("[name=csrfmiddlewaretoken]").value);
      request.upload.addEventListener("progress", function (event) {
        if (event.lengthComputable) progress.value = ((index + event.loaded / event.total) / count) * 100;
      });
      request.addEventListener("load", function () {
        var body;
        try { body = JSON.parse(request.responseText); } catch (error) { body = null; }
        resolve(body || { form_errors: {}, results: [{ filename: file.name, errors: { upload: "HTTP " + request.status } }] });
      });
      request.addEventListener("error", function () {
        resolve({ form_errors: {}, results: [{ filename: file.name, errors: { upload: "network error" } }] });
      });
      request.send(data);
    });
  }

  form.addEventListener("submit", function (event) {
    var files = pending.length ? pending : Array.prototype.slice.call(input.files);
    if (!files.length || typeof FormData === "undefined") return;  // let the browser post the form
    event.preventDefault();
    clearFieldErrors();
    progress.hidden = false;
    progress.value = 0;
    results.hidden = false;
    resultsBody.replaceChildren();
    var failed = [];
    var toRegister = {};
    var chain = Promise.resolve();
    files.forEach(function (file, index) {
      chain = chain.then(function () { return sendOne(file, index, files.length); }).then(function (body) {
        Object.keys(body.form_errors || {}).forEach(function (name) {
          if (index === 0) fieldError(name, body.form_errors[name].map(function (e) { return e.message; }));
        });
        (body.results || []).forEach(function (result) {
          resultsBody.appendChild(resultRow(result));
          (result.to_register || []).forEach(function (row) { if (!result.url) toRegister[row] = true; });
        });
        if (!(body.results || []).some(function (result) { return result.url; })) failed.push(file);
      });
    });
    chain.then(function () {
      progress.value = 100;
      pending = failed;
      showRegistration(Object.keys(toRegister).sort());
    });
  });
})();
