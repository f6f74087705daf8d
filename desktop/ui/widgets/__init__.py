"""Small reusable widgets: banners, empty states, avatars, buttons, form helpers."""
