// Drawing and editing a zone on the Leaflet map, with the mouse or the keyboard: one code
// path for both (a click and Enter at the centre cross both call `add`).

const L = window.L;
const CLOSE_PX = 10; // a click this near the first point closes a polygon
const SAME_PX = 3; // points this near the previous one are dropped (a double click)
const STEP_PX = 10; // one arrow key press moves a handle this far (Shift: 1 px)
const SKETCH = { color: "#1d3557", weight: 2, dashArray: "6 4", fill: false, interactive: false };
const DIGITS = 1e6;

const round = (v) => Math.round(v * DIGITS) / DIGITS;
const toLonLat = (ll) => [round(ll.lng), round(ll.lat)];
const toLatLng = (p) => L.latLng(p[1], p[0]);

export class Sketch {
  /**
   * @param map Leaflet map
   * @param options.done(zone) a shape was finished
   * @param options.changed(zone) the shape being edited changed
   * @param options.hint(text) the drawing state changed
   * @param options.radius() / options.width() metres from the page's fields
   * @param options.label(kind, i) accessible name of a handle
   */
  constructor(map, options) {
    this.map = map;
    this.options = options;
    this.mode = null;
    this.points = [];
    this.zone = null;
    this.cursor = null;
    this.layer = L.layerGroup().addTo(map);
    this.handles = L.layerGroup().addTo(map);
    map.on("click", (e) => this.drawing && this.add(e.latlng));
    map.on("dblclick", (e) => {
      if (!this.drawing) return;
      L.DomEvent.stop(e);
      this.finish();
    });
    map.on("mousemove", (e) => {
      if (!this.drawing) return;
      this.cursor = e.latlng;
      this.render();
    });
  }

  get drawing() {
    return ["polygon", "circle", "corridor"].includes(this.mode);
  }

  /** Start drawing a new shape of `kind`, dropping any shape being edited. */
  start(kind) {
    this.stop();
    this.mode = kind;
    this.points = [];
    this.map.doubleClickZoom.disable();
    this.map.getContainer().classList.add("drawing");
    this.render();
  }

  /** Leave drawing or editing without changing the zone. */
  stop() {
    this.mode = null;
    this.points = [];
    this.zone = null;
    this.cursor = null;
    this.map.doubleClickZoom.enable();
    this.map.getContainer().classList.remove("drawing");
    this.handles.clearLayers();
    this.render();
  }

  /** Add a point (map click, or Enter at the centre cross). */
  add(latlng) {
    const last = this.points[this.points.length - 1];
    if (last && this._near(last, latlng, SAME_PX)) return;
    if (this.mode === "polygon" && this.points.length >= 3 && this._near(this.points[0], latlng, CLOSE_PX)) {
      this.finish();
      return;
    }
    this.points.push(latlng);
    if (this.mode === "circle" && this.points.length === 2) {
      this.finish();
      return;
    }
    this.render();
  }

  /** Remove the last point drawn. */
  undo() {
    this.points.pop();
    this.render();
  }

  /** Finish the shape being drawn, if it has enough points. */
  finish() {
    const points = this.points.map(toLonLat);
    let zone = null;
    if (this.mode === "polygon" && points.length >= 3) zone = { kind: "polygon", points };
    if (this.mode === "corridor" && points.length >= 2) {
      zone = { kind: "corridor", points, width_m: this.options.width() };
    }
    if (this.mode === "circle" && points.length >= 1) {
      const radius =
        this.points.length === 2
          ? Math.round(this.map.distance(this.points[0], this.points[1]))
          : this.options.radius();
      zone = { kind: "circle", center: points[0], radius_m: radius };
    }
    if (zone === null) return;
    this.stop();
    this.options.done(zone);
  }

  /** Show handles to edit `zone` (polygon, circle or corridor). */
  edit(zone) {
    this.stop();
    this.mode = "edit";
    this.zone = structuredClone(zone);
    this._handles();
    this.render();
  }

  /** The zone being edited changed from outside (the radius or width fields). */
  update(zone) {
    if (this.mode !== "edit") return;
    this.zone = structuredClone(zone);
    this._handles();
    this.render();
  }

  render() {
    this.layer.clearLayers();
    if (this.drawing) {
      const points = this.cursor ? [...this.points, this.cursor] : this.points;
      if (this.mode === "circle" && points.length > 0) {
        const radius =
          points.length > 1 ? this.map.distance(points[0], points[1]) : this.options.radius();
        L.circle(points[0], { ...SKETCH, radius }).addTo(this.layer);
      } else if (this.mode === "polygon" && points.length > 2) {
        L.polygon(points, SKETCH).addTo(this.layer);
      } else if (points.length > 1) {
        L.polyline(points, SKETCH).addTo(this.layer);
      }
      for (const p of this.points) {
        L.circleMarker(p, { radius: 4, color: SKETCH.color, interactive: false }).addTo(this.layer);
      }
      this.options.hint(this.mode, this.points.length);
    } else if (this.mode === "edit") {
      this._shape(this.zone).addTo(this.layer);
      this.options.hint("edit", 0);
    } else {
      this.options.hint(null, 0);
    }
  }

  _shape(zone) {
    if (zone.kind === "circle") {
      return L.circle(toLatLng(zone.center), { ...SKETCH, radius: zone.radius_m });
    }
    const points = zone.points.map(toLatLng);
    return zone.kind === "polygon" ? L.polygon(points, SKETCH) : L.polyline(points, SKETCH);
  }

  _near(a, b, px) {
    return this.map.latLngToContainerPoint(a).distanceTo(this.map.latLngToContainerPoint(b)) < px;
  }

  // -- editing -----------------------------------------------------------------------------

  _handles() {
    const focused = document.activeElement?.dataset?.handle;
    this.handles.clearLayers();
    const zone = this.zone;
    if (zone.kind === "circle") {
      this._handle("center", 0, toLatLng(zone.center), (z, ll) => {
        z.center = toLonLat(ll);
      });
      this._handle("radius", 0, this._edge(zone), (z, ll) => {
        z.radius_m = Math.max(1, Math.round(this.map.distance(toLatLng(z.center), ll)));
      });
    } else {
      const n = zone.points.length;
      zone.points.forEach((p, i) => {
        this._handle("vertex", i, toLatLng(p), (z, ll) => {
          z.points[i] = toLonLat(ll);
        });
      });
      const edges = zone.kind === "polygon" ? n : n - 1;
      for (let i = 0; i < edges; i++) {
        const [a, b] = [zone.points[i], zone.points[(i + 1) % n]];
        const middle = L.latLng((a[1] + b[1]) / 2, (a[0] + b[0]) / 2);
        this._handle("midpoint", i, middle, (z, ll) => {
          z.points.splice(i + 1, 0, toLonLat(ll));
        });
      }
    }
    if (focused) {
      const again = this.handles.getLayers().find((m) => m.getElement()?.dataset.handle === focused);
      again?.getElement().focus();
    }
  }

  _edge(zone) {
    // The point due east of the centre, on the circle.
    const center = toLatLng(zone.center);
    const degrees = zone.radius_m / (111320 * Math.cos((center.lat * Math.PI) / 180));
    return L.latLng(center.lat, center.lng + degrees);
  }

  _handle(kind, i, latlng, move) {
    const marker = L.marker(latlng, {
      draggable: true,
      keyboard: true,
      icon: L.divIcon({ className: `handle handle-${kind}`, iconSize: kind === "midpoint" ? [12, 12] : [16, 16] }),
    }).addTo(this.handles);
    const element = marker.getElement();
    element.dataset.handle = `${kind}-${i}`;
    element.setAttribute("aria-label", this.options.label(kind, i));
    const commit = (ll) => {
      move(this.zone, ll);
      this._changed();
    };
    marker.on("drag", (e) => {
      const preview = structuredClone(this.zone);
      move(preview, e.latlng);
      this.layer.clearLayers();
      this._shape(preview).addTo(this.layer);
    });
    marker.on("dragend", () => commit(marker.getLatLng()));
    if (kind === "midpoint") marker.on("click", () => commit(latlng));
    if (kind === "vertex") marker.on("contextmenu", (e) => {
      L.DomEvent.stop(e);
      this._remove(i);
    });
    element.addEventListener("keydown", (e) => this._key(e, kind, i, marker, commit));
  }

  _key(e, kind, i, marker, commit) {
    const step = e.shiftKey ? 1 : STEP_PX;
    const moves = { ArrowLeft: [-step, 0], ArrowRight: [step, 0], ArrowUp: [0, -step], ArrowDown: [0, step] };
    if (moves[e.key] && kind !== "midpoint") {
      // project/unproject, unlike the container point methods, do not round to pixels.
      const point = this.map.project(marker.getLatLng()).add(moves[e.key]);
      commit(this.map.unproject(point));
    } else if ((e.key === "Enter" || e.key === " ") && kind === "midpoint") {
      commit(marker.getLatLng());
    } else if ((e.key === "Delete" || e.key === "Backspace") && kind === "vertex") {
      this._remove(i);
    } else {
      return;
    }
    e.preventDefault();
    e.stopPropagation();
  }

  _remove(i) {
    const least = this.zone.kind === "polygon" ? 3 : 2;
    if (this.zone.points.length <= least) return;
    this.zone.points.splice(i, 1);
    this._changed();
  }

  _changed() {
    this._handles();
    this.render();
    this.options.changed(structuredClone(this.zone));
  }
}
