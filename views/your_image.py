"""Your image: a picture of your own, prepared as Fashion-MNIST was made, encoded, decoded, judged,
and put on the map. Not part of a link: the picture lives only in this session."""
import streamlit as st

from explorer import selection
from explorer.images import for_display
from training.synthesis.encode import encode_prepared
from training.synthesis.prepare import FORMATS, MAX_BYTES, ImageError, prepare_for_model
from views import SCRIPTS, cached, keys, linking, shared_mode, state, url_path
from views import widgets as w

UPLOAD_TYPES = sorted({f.lower() for f in FORMATS} | {"jpg"})
URL_PATH = url_path(__file__)
PARAMS = []   # your picture lives only in this session: a link cannot carry it


def take_upload(b) -> bool:
    """Prepare a newly dropped file once; False (with the reason shown) when it cannot be used."""
    limit_mb = min(st.get_option("server.maxUploadSize"), MAX_BYTES // 2**20)   # a shared server takes less
    what = "A product photo" if b.folder is None else "An image"
    file = st.file_uploader(f"{what} ({', '.join(f.upper() for f in FORMATS)}; up to {limit_mb} MB)",
                            type=UPLOAD_TYPES, key=keys.UPLOAD_FILE)
    if file is None:
        return True
    payload = file.getvalue()
    signature = (b.key, file.name, len(payload), hash(payload))
    if (state.upload() or {}).get("signature") != signature:
        if not shared_mode.allow("upload"):
            return False
        try:
            p = prepare_for_model(payload, file.name, b.meta)
        except ImageError as e:
            state.set_upload(None)
            st.error(str(e))
            return False
        # The session keeps a display-sized copy of the photo and its size for the caption, and the
        # encoding: the panel's reruns show it without running the model and the neighbour search again.
        encoded = encode_prepared(b.model, p.model_input, cached.classifier(b), b.mu, k=8,
                                  name=file.name, notes=p.notes)
        state.set_upload({"signature": signature, "name": file.name, "original": for_display(p.picture),
                          "size": p.size, "prepared": p.model_input, "encoded": encoded})
    return True


@shared_mode.fragment
def upload_panel(b):
    if not take_upload(b):
        return
    up = state.upload()
    if up is None or up["signature"][0] != b.key:
        st.info("Drop an image above. Photos of a single item on a plain background work best.")
        return
    r = up["encoded"]
    for note in r.notes:
        st.caption(note)
    c1, c2, c3, c4 = st.columns([2, 1, 1, 2], gap="medium")
    with c1:
        st.image(up["original"],
                 caption=f"{up['name']} ({up['size'][0]}×{up['size'][1]}"
                         + (", greyscale)" if up["original"].ndim == 2 else ")"),
                 width="stretch")
    with c2:
        w.big_image(r.prepared, f"what the model sees ({b.image_size}×{b.image_size})")
    with c3:
        w.big_image(r.reconstruction, "decoded from its latent mean")
    with c4:
        if r.top3:
            st.markdown("**The classifier says**")
            for name, p in r.top3:
                st.progress(p, text=f"{name} · {p:.0%}")
        typical = cached.typical_nn_distance(b, b.key)
        st.caption(f"Its nearest test item is {r.neighbour_distances[0]:.2f} away in latent space; real "
                   f"items are typically {typical:.2f} from their nearest neighbour"
                   + (" — far from anything in the data, so treat the map position with care." if
                      r.neighbour_distances[0] > 2 * typical else "."))
    sel = selection.upload_selection(b, up["name"], r.z)
    b1, b2, b3, b4 = st.columns(4)
    if b1.button("Show on the latent map", width="stretch"):
        state.select(sel)
        state.put_upload_on_map(sel)
        st.switch_page(SCRIPTS["Latent map"])
    w.mark_buttons(sel, b2, b3)
    if b4.button("Start the sliders here", width="stretch"):
        state.select(sel)
        state.start_sliders_at_selection()
        st.switch_page(SCRIPTS["Latent sliders"])
    st.markdown("**8 nearest test items in latent space**")
    captions = [f"{w.caption_category(b, j)} · {d:.2f}"
                for j, d in zip(r.neighbours, r.neighbour_distances, strict=True)]
    w.thumbnails(w.originals_or_decoded(b, r.neighbours), captions, per_row=8, size=84)


def main():
    b = state.bundle()
    linking.follow_link(URL_PATH, PARAMS, b)
    linking.publish(PARAMS, b)
    if b.folder is None:
        st.markdown("Put your own picture into the latent space. It is prepared the way Fashion-MNIST was "
                    "made — greyscale, a light background turned dark, cropped to the object, padded to a "
                    "square and resized to 28×28 — then encoded, decoded and placed on the map.")
    else:
        st.markdown(f"Put another picture into this model's latent space. It is read as the model's own "
                    f"images were — its centre square, resized to {b.image_words} — then encoded, decoded "
                    "and placed on the map.")
    upload_panel(b)


if __name__ == "__main__":   # Streamlit runs a page as __main__; tests import it
    main()
