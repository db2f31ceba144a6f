<#
.SYNOPSIS
Install the aefarm render agent on a Windows render box, running in the logged-on user's
session through a scheduled task that starts at logon.

.DESCRIPTION
After Effects must not run as a Windows service: in session 0, aerender can hang and its
dialogs appear on a desktop nobody sees. It must also run as the user who owns the AE
preferences, templates, fonts and the Creative Cloud sign-in. This script therefore:
  1. creates a virtual environment in -InstallDir and installs aefarm from -Source,
  2. writes agent.toml beside it from examples\agent.toml (an existing one is kept),
  3. creates the empty files ae_render_only_node.txt (render-only mode) and
     ae_force_english.txt (English log output, which the agent parses) in the user's
     Documents folder,
  4. registers a scheduled task "aefarm agent" that runs the agent at logon of -User, in
     that user's interactive session, restarts it when it fails, and never stops it for
     running long.
Run it in an elevated PowerShell as, or on behalf of, the render user. Set that user to log
on automatically (netplwiz or Autologon) so the agent starts after a reboot.

.EXAMPLE
.\scripts\install-agent.ps1 -Controller farm-controller:8470 -DryRun
#>
param(
    [Parameter(Mandatory = $true)] [string] $Controller,
    [string] $InstallDir = "C:\aefarm",
    [string] $Source = (Split-Path -Parent $PSScriptRoot),
    [string] $User = "$env:USERDOMAIN\$env:USERNAME",
    [string] $Python = "py",
    [switch] $DryRun
)
$ErrorActionPreference = "Stop"

function Step([string] $Text, [scriptblock] $Action) {
    if ($DryRun) { Write-Output "would: $Text" } else { Write-Output $Text; & $Action }
}

if ($Controller -notmatch '^.+:\d+$') {
    throw "invalid -Controller '$Controller': expected HOST:PORT, for example farm:8470"
}
$venv = Join-Path $InstallDir "venv"
$config = Join-Path $InstallDir "agent.toml"
# A short work dir: Windows paths over 260 characters fail in aerender.
$workDir = Join-Path $InstallDir "w"

Step "create $venv and install aefarm from $Source" {
    & $Python -3.11 -m venv $venv
    & (Join-Path $venv "Scripts\pip.exe") install --upgrade $Source
}

if (Test-Path $config) {
    Write-Output "keeping the existing $config"
} else {
    Step "write $config from examples\agent.toml with controller = $Controller" {
        $text = Get-Content (Join-Path $Source "examples\agent.toml") -Raw
        $text = $text -replace '(?m)^controller = .*$', "controller = `"$Controller`""
        $text = $text -replace '(?m)^work_dir = .*$', ("work_dir = '" + $workDir + "'")
        Set-Content -Path $config -Value $text -Encoding UTF8
    }
}

$documents = [Environment]::GetFolderPath("MyDocuments")
foreach ($name in "ae_render_only_node.txt", "ae_force_english.txt") {
    $path = Join-Path $documents $name
    Step "create the empty file $path" {
        if (-not (Test-Path $path)) { New-Item -ItemType File -Path $path | Out-Null }
    }
}

$agent = Join-Path $venv "Scripts\aefarm-agent.exe"
Step "register the scheduled task 'aefarm agent' at logon of $User" {
    $action = New-ScheduledTaskAction -Execute $agent -Argument "--config `"$config`"" `
        -WorkingDirectory $InstallDir
    $trigger = New-ScheduledTaskTrigger -AtLogOn -User $User
    # Interactive: the task runs in the user's desktop session, never in session 0.
    $principal = New-ScheduledTaskPrincipal -UserId $User -LogonType Interactive -RunLevel Limited
    $settings = New-ScheduledTaskSettingsSet -ExecutionTimeLimit ([TimeSpan]::Zero) `
        -RestartCount 999 -RestartInterval (New-TimeSpan -Minutes 1) `
        -AllowStartIfOnBatteries -DontStopIfGoingOnBatteries -MultipleInstances IgnoreNew
    Register-ScheduledTask -TaskName "aefarm agent" -Action $action -Trigger $trigger `
        -Principal $principal -Settings $settings -Force | Out-Null
    Start-ScheduledTask -TaskName "aefarm agent"
}
if ($DryRun) { Write-Output "dry run: nothing was changed" }
