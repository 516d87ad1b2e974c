// Draws a DAG's graph: the server sends nodes, edges and task groups as JSON (#graph-data);
// dagre (vendored, /static/vendor/dagre) lays them out, this file draws SVG.
(function () {
  "use strict";
  var SVG = "http://www.w3.org/2000/svg";
  var COLORS = {
    deferred: "mediumpurple", failed: "red", queued: "gray", removed: "lightgrey",
    restarting: "violet", running: "lime", scheduled: "tan", shutdown: "blue",
    skipped: "hotpink", success: "green", up_for_reschedule: "turquoise",
    up_for_retry: "gold", upstream_failed: "orange"
  };
  function el(name, attrs, parent) {
    var node = document.createElementNS(SVG, name);
    Object.keys(attrs).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    if (parent) { parent.appendChild(node); }
    return node;
  }
  function draw() {
    var holder = document.getElementById("graph");
    var source = document.getElementById("graph-data");
    if (!holder || !source || typeof dagre === "undefined") { return; }
    var data = JSON.parse(source.textContent);
    var g = new dagre.graphlib.Graph({ compound: true, multigraph: false });
    g.setGraph({ rankdir: data.orientation || "LR", nodesep: 18, ranksep: 50, marginx: 16, marginy: 16 });
    g.setDefaultEdgeLabel(function () { return {}; });
    data.groups.forEach(function (group) {
      g.setNode("group:" + group.id, { label: group.label, cluster: true, paddingTop: 24 });
    });
    data.groups.forEach(function (group) {
      if (group.parent) { g.setParent("group:" + group.id, "group:" + group.parent); }
    });
    data.nodes.forEach(function (node) {
      var width = Math.max(90, Math.min(260, 7.2 * Math.max(node.label.length, node.operator.length) + 24));
      g.setNode(node.id, { label: node.label, width: width, height: 44, task: node });
      if (node.group) { g.setParent(node.id, "group:" + node.group); }
    });
    data.edges.forEach(function (edge) { g.setEdge(edge.source, edge.target, { label: edge.label }); });
    dagre.layout(g);
    var size = g.graph();
    var svg = el("svg", { width: size.width, height: size.height, role: "img", "aria-label": "Graph of " + data.dag_id }, null);
    g.nodes().forEach(function (id) {
      var n = g.node(id);
      if (!n.cluster) { return; }
      var box = el("g", { "class": "cluster" }, svg);
      el("rect", { x: n.x - n.width / 2, y: n.y - n.height / 2, width: n.width, height: n.height, rx: 6 }, box);
      var t = el("text", { x: n.x - n.width / 2 + 8, y: n.y - n.height / 2 + 15 }, box);
      t.textContent = n.label;
    });
    g.edges().forEach(function (e) {
      var edge = g.edge(e);
      var d = edge.points.map(function (p, i) { return (i ? "L" : "M") + p.x + "," + p.y; }).join(" ");
      var group = el("g", { "class": "edge" }, svg);
      el("path", { d: d, "marker-end": "url(#arrow)" }, group);
      if (edge.label) {
        var mid = edge.points[Math.floor(edge.points.length / 2)];
        var label = el("text", { x: mid.x + 4, y: mid.y - 4, "class": "edge-label" }, group);
        label.textContent = edge.label;
      }
    });
    var defs = el("defs", {}, svg);
    var marker = el("marker", { id: "arrow", viewBox: "0 0 10 10", refX: 10, refY: 5, markerWidth: 7, markerHeight: 7, orient: "auto-start-reverse" }, defs);
    el("path", { d: "M 0 0 L 10 5 L 0 10 z", fill: "#8a949e" }, marker);
    var runId = holder.dataset.runId;
    g.nodes().forEach(function (id) {
      var n = g.node(id);
      if (n.cluster || !n.task) { return; }
      var task = n.task;
      var state = data.states[task.id];
      var link = el("a", { href: runId ? "/dags/" + encodeURIComponent(data.dag_id) + "/runs/" + encodeURIComponent(runId) + "/tasks/" + encodeURIComponent(task.id) : "#" }, svg);
      var node = el("g", { "class": "node" + (state ? " state" : ""), "data-task-id": task.id, "data-state": state || "" }, link);
      el("rect", { x: n.x - n.width / 2, y: n.y - n.height / 2, width: n.width, height: n.height, rx: 4,
                   fill: task.ui_color || "#fff", stroke: state ? (COLORS[state] || "#8a949e") : "#8a949e" }, node);
      var title = el("text", { x: n.x - n.width / 2 + 8, y: n.y - 4, fill: task.ui_fgcolor || "#000" }, node);
      title.textContent = task.label + (task.is_mapped ? " [ ]" : "");
      var sub = el("text", { x: n.x - n.width / 2 + 8, y: n.y + 13, fill: "#59636e" }, node);
      sub.textContent = task.operator + (state ? " \u00b7 " + state : "");
      var tip = el("title", {}, node);
      tip.textContent = task.id + (state ? ": " + state : "");
    });
    holder.innerHTML = "";
    holder.appendChild(svg);
  }
  document.addEventListener("DOMContentLoaded", draw);
})();
