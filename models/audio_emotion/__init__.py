"""Audio emotion recognition helped by face images (paper: image2audio-emotion.txt)."""
