"""Concepts: a direction in latent space that the person defines by selecting two groups of items on
the map ("with" long sleeves, "without"), how well the groups separate, and any item pushed along it.
The page body is a fragment: a selection or a slider reruns it, not the sidebar."""
from collections import Counter
from dataclasses import replace

import numpy as np
import streamlit as st

from explorer import latent as lat
from explorer import links, selection
from explorer.assets import MAP_LABELS
from explorer.live_frames import Frames
from training.inference import decode_pixels
from training.sampling import DEFAULT_NOISE
from training.synthesis import concepts as C
from views import cached, keys, linking, live, shared_mode, state, url_path
from views import widgets as w

URL_PATH = url_path(__file__)
MEAN, SAMPLES = "a category's mean", "a category's samples"
STEPS = 9
STRENGTH = (0.5, 5.0, 0.25)   # bounds and step
STRENGTH_HELP = ("1 moves an item as far as the 'without' group's mean lies from the 'with' group's; "
                 "the strip goes from pushing away from the concept (−) to pushing toward it (+)")


def selected_rows(projection: str) -> list[int]:
    """Map rows inside the chart's current box or lasso (the invisible empty-space grid left out)."""
    event = st.session_state.get(keys.concept_map(projection))
    try:
        points = event["selection"]["points"]
    except (KeyError, TypeError):
        return []
    rows = {int(p["customdata"]) for p in points if isinstance(p.get("customdata"), (int, float))}
    return sorted(r for r in rows if r >= 0)


def set_group(work: dict, group: str, rows: list[int]) -> None:
    work[group], work["opened"], work["source"] = tuple(rows), None, None


def open_concept(b, work: dict, concept: C.Concept, source: str) -> None:
    work.update({"error": None, "with": tuple(C.rows_of(concept.with_items, b.index).tolist()),
                 "without": tuple(C.rows_of(concept.without_items, b.index).tolist()),
                 "rule": concept.without_rule, "opened": concept, "source": source})
    st.session_state[keys.CONCEPT_NAME] = concept.name


def open_example(b, work: dict, shipped: dict) -> None:
    choice = st.session_state.get(keys.CONCEPT_EXAMPLE)
    if choice in shipped:
        open_concept(b, work, shipped[choice][1], f"example:{choice}")


def open_upload(b, work: dict) -> None:
    up = st.session_state.get(keys.CONCEPT_UPLOAD)
    work["error"] = None
    if up is None:
        return
    try:
        opened = C.check(C.parse(up.getvalue(), up.name), up.name, b.meta.get("weights_sha256", ""),
                         b.latent_dim)
    except C.ConceptError as e:
        work["error"] = str(e)   # the groups and concept the person had stay as they were
    else:
        open_concept(b, work, opened, f"upload:{up.name}")


def describe(b, rows) -> str:
    if not rows:
        return "none yet"
    top = Counter(b.categories[b.labels[r]] for r in rows).most_common(3)
    return f"**{len(rows):,}** items (" + ", ".join(f"{name} {n:,}" for name, n in top) + \
        (", …" if len({b.labels[r] for r in rows}) > 3 else "") + ")"


def groups_panel(b, work: dict, projection: str):
    """The map to select on, and the buttons that make the selection a group."""
    rows = selected_rows(projection)
    st.plotly_chart(cached.concept_map_figure(b, b.key, projection, work["with"],
                                              work["without"] if work["rule"] == C.SELECTED else ()),
                    on_select="rerun", selection_mode=("box", "lasso"), key=keys.concept_map(projection),
                    config={"displaylogo": False, "scrollZoom": True})
    st.caption(f"{MAP_LABELS[projection]}. Drag a box (or pick the lasso in the chart's toolbar) around "
               "items that show the concept, save them as **with**; then select items without it. Rings "
               "mark the saved groups. Double-click clears the selection.")
    c1, c2, c3 = st.columns([2, 2, 1])
    c1.button(f"Selected → with ({len(rows):,})", disabled=not rows, width="stretch",
              on_click=set_group, args=(work, "with", rows), key=keys.CONCEPT_SAVE_WITH)
    c2.button(f"Selected → without ({len(rows):,})", width="stretch", on_click=set_group,
              args=(work, "without", rows), key=keys.CONCEPT_SAVE_WITHOUT,
              disabled=not rows or work["rule"] == C.REST)
    c3.button("Clear", width="stretch", key=keys.CONCEPT_CLEAR, on_click=lambda: work.update(
        {"with": (), "without": (), "opened": None, "source": None}))


def concept_panel(b, work: dict) -> C.Concept | None:
    """Where a concept comes from (the groups, a shipped file, an uploaded file), and how real it is."""
    shipped = cached.shipped_concepts(b, b.key)
    c1, c2 = st.columns([3, 2])
    # Opening happens in the widgets' callbacks, before the fragment reruns, so the map above is
    # drawn with the opened concept's groups already ringed.
    if shipped:
        c1.selectbox("Open a worked example", ["—"] + list(shipped), key=keys.CONCEPT_EXAMPLE,
                     on_change=open_example, args=(b, work, shipped),
                     help="replaces the groups on the map: download yours first to keep them")
    c2.file_uploader("Open a concept file", type=["json"], key=keys.CONCEPT_UPLOAD, on_change=open_upload,
                     args=(b, work), help="a .json concept downloaded from this view, made on this model; "
                                          "it replaces the groups on the map")
    if work.get("error"):
        st.error(f"Cannot open the concept: {work['error']}")
    rule = st.radio("Without the concept", (C.SELECTED, C.REST), horizontal=True,
                    index=(C.SELECTED, C.REST).index(work["rule"]), key=keys.CONCEPT_RULE,
                    format_func=lambda r: "the items I select" if r == C.SELECTED else
                    "the rest of their categories",
                    help="the rest: every other item of the categories the 'with' items belong to")
    if rule != work["rule"]:
        work["rule"], work["opened"], work["source"] = rule, None, None
    st.markdown(f"With: {describe(b, work['with'])}  \nWithout: "
                + (describe(b, work["without"]) if rule == C.SELECTED else "the rest of their categories"))
    if not work["with"] or (rule == C.SELECTED and not work["without"]):
        st.info(f"Select at least {C.MIN_GROUP} items for each group on the map, or open an example.")
        return None
    if work["opened"] is not None:
        concept, note = work["opened"], None
    else:
        groups = (work["with"], work["without"], rule)
        if work.get("made") != groups:   # new groups: measuring them is the costly part, so it is counted
            if not shared_mode.allow("concept"):
                return None
            work["made"] = groups
        try:
            concept, note = cached.concept(b, b.key, work["with"], work["without"], rule)
        except C.ConceptError as e:
            st.warning(f"No concept yet: {e}.")
            return None
    name = st.text_input("Name", key=keys.CONCEPT_NAME, max_chars=80, placeholder="e.g. long sleeves")
    concept = replace(concept, name=" ".join(name.split()) or "concept")
    if note:
        st.caption(note + ".")
    verdict = ("**A real concept**: " if concept.is_real else "**Not distinguishable from noise**: ")
    st.markdown(verdict + f"along the direction, held-out items fall on their group's side "
                f"**{concept.accuracy:.0%}** of the time (balanced, {concept.folds}-fold cross-validation); "
                f"the same items shuffled between the groups reach {concept.chance_bound:.0%} "
                f"(95th percentile of 100 shuffles).")
    st.download_button("Download the concept (.json)", concept.to_json(), mime="application/json",
                       file_name=f"{slug(concept.name)}.json",
                       on_click="ignore", key=keys.CONCEPT_DOWNLOAD)
    return concept


def slug(name: str) -> str:
    return "-".join("".join(ch if ch.isalnum() else " " for ch in name.lower()).split())[:40] or "concept"


def start_latent(b, work: dict):
    """The latent to push (or, for a category's samples, several), its label and a caption."""
    sel = state.selected(b)
    sources = []
    if sel is not None:
        sources.append("your image" if sel["kind"] == "upload" else "the point selected on the latent map")
    sources += [f"endpoint {m}" for m in keys.MARKS if state.marked(m, b) is not None]
    sources += [MEAN, SAMPLES] if b.categories else []
    if st.session_state.get(keys.CONCEPT_SOURCE) not in sources:
        st.session_state.pop(keys.CONCEPT_SOURCE, None)
    c1, c2, c3, c4 = st.columns([3, 2, 1, 1])
    source = c1.selectbox("Push", sources, key=keys.CONCEPT_SOURCE)
    if source in (MEAN, SAMPLES):
        without = work["without"] or work["with"]
        default = Counter(int(b.labels[r]) for r in without).most_common(1)[0][0] if without else 0
        c = w.category_box(c2, "Category", b, keys.CONCEPT_CATEGORY, default)
        if source == MEAN:
            return b.category_mean[c][None], c, f"the {b.categories[c]} mean", None
        n = c3.number_input("Items", 4, 16, 8, step=4, key=keys.CONCEPT_ITEMS)
        seed = c4.number_input("Seed", 0, 2**31 - 1, 0, key=keys.CONCEPT_SEED)
        z = lat.category_samples(b, c, n, DEFAULT_NOISE, int(seed))
        return z, c, f"{n} {b.categories[c]} samples", (b.categories[c], n, seed)
    chosen = sel if source in ("your image", "the point selected on the latent map") else \
        state.marked(source[-1], b)
    label = int(b.labels[chosen["index"]]) if chosen["kind"] == "point" else None
    return selection.latent_of(chosen, b)[None], label, source, None


def called(b, images: np.ndarray) -> list[str]:
    """What the classifier calls each picture; blanks where no classifier judges this model."""
    probs = w.judged(b, images)
    if probs is None:
        return [""] * len(images)
    return [f"{b.categories[int(p.argmax())]} {float(p.max()):.0%}" for p in probs]


def apply_panel(b, work: dict, concept: C.Concept):
    st.markdown(f"#### Push an item along *{concept.name}*")
    z, label, what, samples = start_latent(b, work)
    live_data, notice = live.ready(b)
    lo, hi, step = STRENGTH
    control = live.control("Strength", lo, hi, step, help=STRENGTH_HELP)
    if live_data is None:
        st.info(notice, icon=":material/speed:")
        strength = st.slider("Strength", lo, hi, 2.0, step, key=keys.CONCEPT_STRENGTH, help=STRENGTH_HELP)
    else:   # the strength is dragged over the pictures, which the browser decodes
        strength = live.taken(keys.LIVE_CONCEPT, keys.CONCEPT_STRENGTH, 2.0, lo, hi, step)
    direction = concept.direction
    if samples is None:
        s = C.strengths(strength, STEPS)
        images = decode_pixels(b.model, C.push(z[0], direction, s))
        verdicts = called(b, images)
        if live_data is None:
            w.strip(images, [f"{v:+.2f} · {c}" if c else f"{v:+.2f}"
                             for v, c in zip(s, verdicts, strict=True)])
        else:
            f = Frames(b.latent_dim)
            f.row([f.frame("line", z[0], direction, 0.0, c) for c in C.strengths(1.0, STEPS)],
                  captions=["{t}"] * STEPS, columns=STEPS, size=96)
            live.frames(keys.LIVE_CONCEPT, live_data, keys.CONCEPT_STRENGTH, strength, control, f,
                        notes=[verdicts])
        judge = cached.classifier(b) is not None
        st.caption(f"{what[0].upper() + what[1:]} pushed from −{strength:g} to +{strength:g} (the middle "
                   "frame is the item itself); under each frame, the strength"
                   + (" and what the classifier calls it" if judge else "")
                   + (f": does it stay a {b.categories[label]}?" if judge and label is not None else "."))
        if not judge:
            st.caption(w.no_judge_note(b))
        return
    category, n, seed = samples
    rows = [decode_pixels(b.model, z), decode_pixels(b.model, C.push(z, direction, strength))]
    if live_data is None:
        for title, images in zip(("as drawn", f"pushed by +{strength:g}"), rows, strict=True):
            st.markdown(f"**{what}, {title}**")
            w.thumbnails(images, called(b, images), per_row=min(8, n), size=84)
    else:
        f = Frames(b.latent_dim)
        for title, c in ((f"{what}, as drawn", 0.0), (f"{what}, pushed by +{{s}}", 1.0)):
            f.row([f.frame("line", zi, direction, 0.0, c) for zi in z], title, columns=min(8, n))
        live.frames(keys.LIVE_CONCEPT, live_data, keys.CONCEPT_STRENGTH, strength, control, f,
                    notes=[called(b, images) for images in rows])
    source = work["source"]
    file = (str(cached.shipped_concepts(b, b.key)[source.split(":", 1)[1]][0].relative_to(cached.ROOT))
            if source and source.startswith("example:") else f"{slug(concept.name)}.json")
    st.caption("The same images from the command line (with the concept downloaded above):")
    st.code(f"python -m training generate --checkpoint {b.directory} --category '{category}' --n {n} "
            f"--seed {seed} --concept {file} --strength {strength:g} --out samples.npz", language="bash")


@shared_mode.fragment
def groups_and_concept(b, projection: str):
    """The map, the groups and the concept: a selection reruns this part, not the strip below."""
    work = state.concept_work(b)
    left, right = st.columns([3, 2], gap="medium")
    with left:
        groups_panel(b, work, projection)
    with right:
        concept = concept_panel(b, work)
    key = None if concept is None else (concept.name, concept.direction.tobytes())
    if work.get("current_key") != key:
        work["current"], work["current_key"] = concept, key
        if "pushed_key" in work and work["pushed_key"] != key:
            st.rerun()   # the strip below shows another concept: redraw the page once


@shared_mode.fragment
def push_and_link(b):
    """The strip: a strength or a choice of item reruns only this part."""
    work = state.concept_work(b)
    if work.get("current") is not None:
        apply_panel(b, work, work["current"])
    work["pushed_key"] = work.get("current_key")
    # only a worked example fits in a link: groups you selected stay in your session (download them)
    example = (work["source"] or "").startswith("example:")
    query = linking.publish(PARAMS if example else PARAMS[1:], b)
    w.link_box(URL_PATH, query, "and the same worked example" if example else
               "(your own groups are not part of a link: download the concept to keep them)")


def examples(b) -> tuple:
    """The worked examples made on this model, as link options: the file's stem in the address."""
    return tuple((path.stem, name) for name, (path, _) in cached.shipped_concepts(b, b.key).items())


PARAMS = [links.Choice("concept", keys.CONCEPT_EXAMPLE, examples),
          links.Float("s", keys.CONCEPT_STRENGTH, 0.5, 5.0)]


def main():
    b = state.bundle()
    if linking.follow_link(URL_PATH, PARAMS, b) and "concept" in st.query_params:
        open_example(b, state.concept_work(b), cached.shipped_concepts(b, b.key))
    projection = st.sidebar.selectbox("Map projection", list(b.maps), key=keys.PROJECTION,
                                      format_func=lambda p: MAP_LABELS[p])
    st.markdown("Name something you see in the products, long sleeves, a handle, a high shaft, by selecting "
                "items that have it and items that do not. The difference of the two groups' mean latents "
                "is a direction in latent space; push any item along it and watch the concept grow or fade.")
    groups_and_concept(b, projection)
    push_and_link(b)


if __name__ == "__main__":   # Streamlit runs a page as __main__; tests import it
    main()
