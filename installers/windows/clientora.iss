; Inno Setup script for the Windows installer (not built here: see docs/packaging.md).
; Build on Windows after `python -m installers.build_desktop --no-tarball` has made
; dist\clientora\ (Clientora.exe and its files):
;   iscc /DAppVersion=0.1.0 installers\windows\clientora.iss
; Per-user install (no administrator rights), Start menu entry, optional start with Windows.

#ifndef AppVersion
  #define AppVersion "0.1.0"
#endif

[Setup]
AppId={{6B0C3E5A-8C1F-4F5E-9B7C-2C1A0F3D9E41}
AppName=Clientora
AppVersion={#AppVersion}
AppPublisher=Clientora
DefaultDirName={localappdata}\Programs\Clientora
DefaultGroupName=Clientora
PrivilegesRequired=lowest
OutputDir=..\..\dist
OutputBaseFilename=Clientora-{#AppVersion}-setup
Compression=lzma2
SolidCompression=yes
WizardStyle=modern
UninstallDisplayIcon={app}\clientora.exe
CloseApplications=yes

[Files]
Source: "..\..\dist\clientora\*"; DestDir: "{app}"; Flags: recursesubdirs ignoreversion

[Icons]
Name: "{group}\Clientora"; Filename: "{app}\clientora.exe"
Name: "{userdesktop}\Clientora"; Filename: "{app}\clientora.exe"; Tasks: desktopicon

[Tasks]
Name: "desktopicon"; Description: "A desktop shortcut"; Flags: unchecked
Name: "autostart"; Description: "Start Clientora when I sign in"

[Registry]
; The same value `clientora autostart on` writes (desktop/core/autostart.py).
Root: HKCU; Subkey: "Software\Microsoft\Windows\CurrentVersion\Run"; ValueType: string; \
  ValueName: "Clientora"; ValueData: """{app}\clientora.exe"" --background"; \
  Flags: uninsdeletevalue; Tasks: autostart

[Run]
Filename: "{app}\clientora.exe"; Description: "Open Clientora"; Flags: nowait postinstall skipifsilent

[UninstallRun]
Filename: "{app}\clientora.exe"; Parameters: "--quit"; Flags: runhidden; RunOnceId: "QuitClientora"
