"""The page's look: Gradio 6 takes the theme and CSS in `launch()`, so the UI and the server share them."""

from __future__ import annotations

import gradio as gr

# Gradio scopes custom CSS to `.contain` inside @media blocks, so the page padding (outside it) shrinks
# with min() instead; on phones wide tables and code scroll in their own box instead of widening the page.
CSS = """
.gradio-container {max-width: 1280px !important; margin: auto;}
.main.fillable.app {padding-left: min(var(--size-8), 3vw) !important;
                    padding-right: min(var(--size-8), 3vw) !important;}
#status:empty {display: none;}
/* Output pictures: the icon buttons sit above the picture, not on it, so the count banner and the face
   labels drawn at its top stay visible (the label chips are off: show_label=False). */
#image-output .icon-button-wrapper, #webcam-output .icon-button-wrapper, #video-output .icon-button-wrapper {
  position: static !important; margin: 0 0 4px auto; width: fit-content;
}
#webcam-note:empty {display: none;}
@media (max-width: 640px) {
  .tab-container button {padding-left: 8px !important; padding-right: 8px !important;}
  #faces-table, #about pre {max-width: calc(100vw - 8vw); overflow-x: auto;}
  h1 {font-size: 1.4em;}
}
"""

# Local fonts only: the default theme fetches Google Fonts, which an offline browser waits for.
THEME = gr.themes.Soft(
    primary_hue="green",
    font=["system-ui", "-apple-system", "Segoe UI", "Roboto", "sans-serif"],
    font_mono=["ui-monospace", "SFMono-Regular", "Menlo", "monospace"],
)
