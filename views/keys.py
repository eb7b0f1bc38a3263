"""Every key the explorer keeps in ``st.session_state``, named once.

A widget's key is where Streamlit keeps its value, and a link parameter (``explorer.links.Param``)
names the key it sets, so views use these names and never a string of their own. Keys that start
with ``_`` are the app's own bookkeeping, never a widget. The values are part of what tests and
saved sessions see: renaming a constant is free, changing its value is not.
"""

# --- what the person has chosen, shared by several views (views/state.py reads and writes them) ----
BUNDLE = "bundle"               # the loaded model and its maps (explorer.assets.Bundle)
SELECTION = "selection"         # the map click or your image (an explorer.selection dict)
UPLOAD = "upload"               # your image: signature, name, original (shown), size, prepared, encoded
UPLOAD_ON_MAP = "upload_on_map"  # your image's marker on the map
ON_MAP = "on_map"               # generated samples shown on the map: model, latents, name
CONCEPT = "concept"             # the Concepts view's work: groups (map rows), their rule, an opened file
MARK_A, MARK_B = "A", "B"       # the interpolation's endpoints, marked on the map or on your image
MARKS = (MARK_A, MARK_B)
SLIDER_START = "slider_start"   # where the sliders start: "selected point", "category mean" or "origin"
PROJECTION = "projection"       # the sidebar's map projection (latent map and concepts)

# --- the app's bookkeeping ----------------------------------------------------------------------------
MODEL_CHOICE = "model_choice"   # the sidebar's model picker
MODEL_DIR = "model_dir"         # …and its directory box (private mode)
SAVED = "_saved"                # each linked widget's last value, restored when its view is opened again
WRITTEN = "_written"            # the query parameters this session last wrote or followed
VIEW = "_view"                  # the view shown last, to tell an arrival from a rerun
ARRIVAL = "_arrival"            # what a view opened from the sidebar showed on arrival (its address stays
                                # bare until a setting changes)
FROM_LINK = "_from_link"        # values a followed link hands to its view once (Param.once)
SESSION_SEEN = "_session_seen"  # when a resumed session began, or None (views/lost_session.py)
LIMITS = "_limits"              # this session's sharing.RateLimit per kind of request
FULL_RUN = "_full_run"          # set while the whole app runs, so its fragments do not count it again
LIVE_OFF = "_live_off"          # why this browser cannot decode live (views/live.py), once it has said so


def live_taken(component: str) -> str:
    """The stamp of the last release of live ``component``'s control that its view has taken."""
    return f"_{component}_taken"


def live_shown(component: str) -> str:
    """The value live ``component``'s control was last given (or released at): another value means
    something else set it (a link, a reset), and the browser must be told to move the control."""
    return f"_{component}_shown"


def live_version(component: str) -> str:
    """Bumped whenever live ``component``'s control is set by anything but its own release."""
    return f"_{component}_version"

# --- Latent map ---------------------------------------------------------------------------------------
COLOUR_BY = "colour_by"
DOWNLOAD_FORMAT = "dl_fmt"
MAP_SPOT = "link_spot"          # a link's click on empty space (once)


def map_chart(projection: str) -> str:
    """The map chart of one projection: its selection event."""
    return f"map_{projection}"


def last_map_event(projection: str) -> str:
    """The last click taken from that chart, so a rerun does not take it again."""
    return f"last_event_{projection}"


# --- Your image ---------------------------------------------------------------------------------------
UPLOAD_FILE = "upload_file"

# --- Latent sliders -----------------------------------------------------------------------------------
SLIDER_CATEGORY = "slider_cat"
SLIDER_COUNT = "slider_count"
SWEEP_DIM = "sweep_dim"
SLIDERS_MOVED = "slider_moved"              # a link's moved dimensions (once)
SLIDERS_MOVED_SAVED = "slider_moved_saved"  # the moved dimensions, kept while the view is away
SLIDERS_SIGNATURE = "slider_signature"      # the model and start the sliders were set for
SLIDERS_VERSION = "slider_version"          # bumped when the live sliders are set anew (start, link, reset)
LIVE_SLIDERS = "live_sliders"               # the live sliders component: its "moved" on release, or "failed"
SLIDERS_RELEASED = "slider_released"        # the stamp of the last release the view has taken


def slider(dim: int) -> str:
    """The slider of latent dimension ``dim``."""
    return f"z_{dim}"


# --- Concepts -----------------------------------------------------------------------------------------
CONCEPT_EXAMPLE = "concept_example"
CONCEPT_UPLOAD = "concept_upload"
CONCEPT_NAME = "concept_name"
CONCEPT_RULE = "concept_rule"
CONCEPT_SAVE_WITH = "concept_save_with"
CONCEPT_SAVE_WITHOUT = "concept_save_without"
CONCEPT_CLEAR = "concept_clear"
CONCEPT_DOWNLOAD = "concept_download"
CONCEPT_SOURCE = "concept_source"
CONCEPT_CATEGORY = "concept_cat"
CONCEPT_ITEMS = "concept_n"
CONCEPT_SEED = "concept_seed"
CONCEPT_STRENGTH = "concept_strength"
LIVE_CONCEPT = "live_concept"   # the strength control and its frames, decoded in the browser (views/live.py)


def concept_map(projection: str) -> str:
    """The Concepts view's map of one projection: its box or lasso selection."""
    return f"concept_map_{projection}"


# --- Sampling -----------------------------------------------------------------------------------------
SAMPLE_CATEGORY = "sample_cat"
SAMPLE_ITEMS = "sample_n"
SAMPLE_NOISE = "sample_noise"
LIVE_SAMPLES = "live_samples"   # the noise-scale control and the samples, decoded in the browser
SAMPLE_SEED = "sample_seed"
SAMPLE_KIND = "sample_kind"
SAMPLE_CLUSTER = "sample_cluster"
SAMPLE_CLUSTER_LINK = "sample_cluster_link"   # a link's cluster (once)
SAMPLE_ON_MAP = "sample_on_map"
SAMPLE_NOVELTY = "sample_novelty"
SAMPLE_SOURCE = "sample_source"         # a category, or the whole model (no category)
SAMPLE_PRIOR = "sample_prior"           # the whole model: its learned prior, or N(0, I)
SAMPLE_MODEL_NOISE = "sample_model_noise"
LIVE_MODEL_SAMPLES = "live_model_samples"   # the whole model's noise scale and samples, in the browser

# --- Variations ---------------------------------------------------------------------------------------
VARIATIONS_OF = "var_source"
VARIATIONS_CATEGORY = "var_cat"
VARIATIONS_ITEM = "var_item"
VARIATIONS_STRENGTH = "var_strength"
LIVE_VARIATIONS = "live_variations"   # the strength control and the variants, decoded in the browser
VARIATIONS_COUNT = "var_n"
VARIATIONS_SEED = "var_seed"
VARIATIONS_SHOW = "var_show"   # the variants the classifier recognises, or every draw

# --- Interpolation & hybrids --------------------------------------------------------------------------
INTERPOLATION_STEPS = "interp_steps"
INTERPOLATION_PATH = "interp_method"
INTERPOLATION_NOVELTY = "interp_novelty"
INTERPOLATION_ENDS = "interp_ends"   # the endpoints as shown (marked or picked), for the link
INTERPOLATION_AT = "interp_at"       # the scrubber's position between A (0) and B (1)
LIVE_INTERPOLATION = "live_interp"   # the scrubber and its frames, decoded in the browser
HYBRID_A = "hyb_a"
HYBRID_B = "hyb_b"
HYBRID_PAIRS = "hyb_n"
HYBRID_MIX = "hyb_mix"
LIVE_HYBRIDS = "live_hybrids"   # the mix control and the hybrids, decoded in the browser
HYBRID_SEED = "hyb_seed"
HYBRID_NOVELTY = "hyb_novelty"


def endpoint_source(mark: str) -> str:
    """Whether endpoint A or B is what was marked or an item picked by category."""
    return f"{mark}_source"


def endpoint_category(mark: str) -> str:
    return f"{mark}_cat"


def endpoint_item(mark: str) -> str:
    return f"{mark}_item"


# --- Reconstructions ----------------------------------------------------------------------------------
RECONSTRUCTIONS_SEED = "recon_seed"
RECONSTRUCTIONS_COUNT = "recon_n"

# --- Latent statistics --------------------------------------------------------------------------------
STATISTICS_CATEGORY = "stat_cat"
STATISTICS_X = "stat_x"
STATISTICS_Y = "stat_y"
STATISTICS_PAIR_CHART = "stat_pair"
STATISTICS_KL_CHART = "stat_kl"

# --- Compare models -----------------------------------------------------------------------------------
COMPARE_WITH = "compare_choice"
COMPARE_DIR = "compare_dir"
COMPARE_ITEM = "compare_item"
COMPARE_CATEGORY = "compare_cat"
COMPARE_ITEMS = "compare_n"
COMPARE_SEED = "compare_seed"
COMPARE_FROM = "compare_from"
COMPARE_TO = "compare_to"

# --- Model card ---------------------------------------------------------------------------------------
HISTORY_CHART = "history"
AGREEMENT_BY_NOISE_CHART = "agreement_by_noise"


def live_compare(section: str, model: int) -> str:
    """Compare's pictures of one section ("item", "samples", "path") for the loaded model (0) or the
    second (1), decoded in the browser."""
    return f"live_compare_{section}_{model}"
