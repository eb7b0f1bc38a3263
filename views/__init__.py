"""The explorer's views, one script each, and the table the app's navigation is built from."""

# (script relative to streamlit_app.py, title, URL path, icon) of each view, grouped as the sidebar
# shows them; the first is the home view
SECTIONS = {
    "Explore": [("views/latent_map.py", "Latent map", "latent-map", ":material/scatter_plot:"),
                ("views/your_image.py", "Your image", "your-image", ":material/add_photo_alternate:"),
                ("views/sliders.py", "Latent sliders", "sliders", ":material/tune:"),
                ("views/concepts.py", "Concepts", "concepts", ":material/lightbulb:")],
    "Generate": [("views/sampling.py", "Category sampling", "sampling", ":material/grid_view:"),
                 ("views/variations.py", "Variations", "variations", ":material/style:"),
                 ("views/interpolation.py", "Interpolation & hybrids", "interpolation",
                  ":material/compare_arrows:")],
    "The model": [("views/reconstructions.py", "Reconstructions", "reconstructions", ":material/flip:"),
                  ("views/statistics.py", "Latent statistics", "statistics", ":material/bar_chart:"),
                  ("views/compare.py", "Compare models", "compare", ":material/compare:"),
                  ("views/model_card.py", "Model card", "model-card", ":material/description:")],
}
SCRIPTS = {title: script for views in SECTIONS.values() for script, title, _, _ in views}   # st.switch_page
HOME = SECTIONS["Explore"][0][0]
